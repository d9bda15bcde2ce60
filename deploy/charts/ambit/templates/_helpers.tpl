{{/* Common labels on every object of the release. */}}
{{- define "ambit.labels" -}}
app.kubernetes.io/part-of: ambit
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
ambit.dev/profile: {{ .Values.profile | quote }}
{{- end -}}

{{/* image: {{ include "ambit.image" (list . "agent") }} */}}
{{- define "ambit.image" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "%s/%s:%s" $root.Values.global.hub $name (default $root.Chart.AppVersion $root.Values.global.tag) -}}
{{- end -}}

{{/* Where agents and waypoints reach the controller's discovery + CA (15012). */}}
{{- define "ambit.controllerAddress" -}}
{{- if .Values.global.controllerAddress -}}
{{- .Values.global.controllerAddress -}}
{{- else -}}
{{- printf "ambit-controller.%s.svc:15012" .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "ambit.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The SPIFFE id agents and waypoints require of the controller (pinned, never "any"). */}}
{{- define "ambit.controllerIdentity" -}}
{{- if .Values.global.controllerIdentity -}}
{{- .Values.global.controllerIdentity -}}
{{- else -}}
{{- printf "spiffe://%s/ns/%s/sa/ambit-controller" .Values.global.trustDomain .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
Gateways: ambit-waypoint runs them (--mode ingress-gateway|egress-gateway); gateways.*.enabled decides.
*/}}
{{- define "ambit.gatewaysAvailable" -}}true{{- end -}}

{{/* Where agents and waypoints find the CA root the controller publishes (ConfigMap ambit-ca-root-cert). */}}
{{- define "ambit.rootCertDir" -}}/var/run/secrets/ambit/ca{{- end -}}
