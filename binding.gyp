{
  "targets": [
    {
      "target_name": "osh_native",
      "sources": ["runtime/native/addon.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
