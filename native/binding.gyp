# roomgate native addons. Built by scripts/build-native.mjs (node-gyp, --nodedir=/usr when the
# Debian Node headers are installed). System libraries come from pkg-config:
#   apt-get install libavcodec-dev libswresample-dev libopus-dev pkg-config
# srtp_send and srtp_recv use the OpenSSL inside Node (its headers ship with Node's, its symbols with the node binary).
{
  "targets": [
    {
      "target_name": "aac_opus",
      "sources": ["src/aac_opus.cc"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "<!@(pkg-config --cflags libavcodec libavutil libswresample opus)"
      ],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++1y", "-fno-exceptions"],
      "libraries": [
        "<!@(pkg-config --libs libavcodec libavutil libswresample opus)"
      ]
    },
    {
      "target_name": "srtp_send",
      "sources": ["src/srtp_send.cc", "src/srtp_protect.cc"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers"
      ],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++1y", "-fno-exceptions"]
    },
    {
      "target_name": "srtp_recv",
      "sources": ["src/srtp_recv.cc", "src/srtp_protect.cc"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers"
      ],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++1y", "-fno-exceptions"]
    }
  ]
}
