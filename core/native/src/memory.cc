// A process-wide native helper any Ambit binary may load (the waypoint does; the agent has
// mallocTrim in its netns addon):
//
//   mallocTrim() -> bool        glibc malloc_trim(0): free pages anywhere in malloc's heap go
//                               back to the kernel; false where there is no glibc
//   lowMemoryNotification()     V8's Isolate::LowMemoryNotification: full collections that
//                               also shrink the young generation back to its initial size
//
// glibc returns freed memory to the kernel on its own only from the top of its heap: TLS and
// HTTP/2 buffers freed after a burst of traffic sit below live allocations and stay resident.
// V8 grows the young generation under load (up to two 16 MiB semi-spaces) and shrinks it only
// after a collection that sees a low allocation rate over its last 5 s; a plain gc() right after
// a load does not, so the pages stay committed. A collection for low memory shrinks it at once.
// The module is registered through Node-API; only lowMemoryNotification uses V8's C++ API (the
// isolate of the calling thread), so the addon is built for the Node.js that runs it, as every
// node-gyp addon is at install.
#include <node_api.h>
#include <v8.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace {

napi_value Boolean(napi_env env, bool value) {
  napi_value result = nullptr;
  napi_get_boolean(env, value, &result);
  return result;
}

napi_value MallocTrim(napi_env env, napi_callback_info) {
#ifdef __GLIBC__
  return Boolean(env, malloc_trim(0) != 0);
#else
  return Boolean(env, false);
#endif
}

napi_value LowMemoryNotification(napi_env env, napi_callback_info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return Boolean(env, isolate != nullptr);
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor methods[] = {
      {"mallocTrim", nullptr, MallocTrim, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"lowMemoryNotification", nullptr, LowMemoryNotification, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(methods) / sizeof(methods[0]), methods);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
