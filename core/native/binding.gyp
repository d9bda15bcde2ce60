{
  "targets": [
    {
      "target_name": "ambit_memory",
      "sources": ["src/memory.cc"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [["OS!='linux'", { "sources!": ["src/memory.cc"] }]]
    }
  ]
}
