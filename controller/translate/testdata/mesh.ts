// A namespace with a waypoint, two services (reviews v1/v2 with subsets, ratings) and a
// second namespace: the shared starting point of the routing tests.
export const MESH = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }
---
apiVersion: v1
kind: Namespace
metadata: { name: other, labels: { mesh-mode: ambient } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: wp, namespace: shop }
spec: { gatewayClassName: ambit-waypoint }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }, { name: http-admin, port: 9090 }] }
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: shop }
spec: { selector: { app: ratings }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: audit, namespace: other }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-v1, namespace: shop, labels: { app: reviews, version: v1 } }
status: { podIP: 10.0.0.1 }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-v2, namespace: shop, labels: { app: reviews, version: v2 } }
status: { podIP: 10.0.0.2 }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
`;
