{
  "targets": [
    {
      "target_name": "ambit_netns",
      "sources": ["src/netns.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "conditions": [["OS!='linux'", { "sources!": ["src/netns.cc"] }]]
    }
  ]
}
