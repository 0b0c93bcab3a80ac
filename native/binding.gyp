# roomgate's native addon. Built by scripts/build-native.mjs (node-gyp, --nodedir=/usr when the
# Debian Node headers are installed). System libraries come from pkg-config:
#   apt-get install libavformat-dev libavcodec-dev libswresample-dev libopus-dev pkg-config
# media: AAC → Opus, the SRTP sender, the media engine (RTMP and WHIP inputs, sinks, taps and their muxers), and the
# test-only bindings on its `testing` export (*_testing.cc, srtp_recv.cc). SRTP uses the OpenSSL inside Node (its
# headers ship with Node's, its symbols with the node binary).
# shared_limits.h (numbers the plane shares with its TypeScript twin) is generated from ../src/media/shared-limits.json
# into build/Release/obj/gen by the media target's action.
{
  "targets": [
    {
      "target_name": "media",
      "actions": [
        {
          "action_name": "shared_limits",
          "inputs": ["../src/media/shared-limits.json", "../scripts/gen-shared-limits.mjs"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/shared_limits.h"],
          "action": ["node", "../scripts/gen-shared-limits.mjs", "../src/media/shared-limits.json", "<(SHARED_INTERMEDIATE_DIR)/shared_limits.h"]
        }
      ],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)"],
      "sources": [
        "src/plane/addon.cc",
        "src/plane/plane.cc",
        "src/plane/pipe.cc",
        "src/plane/pipe_rtp.cc",
        "src/plane/rtp_in.cc",
        "src/plane/sink.cc",
        "src/plane/tap.cc",
        "src/plane/tap_files.cc",
        "src/plane/tap_muxer.cc",
        "src/plane/rtmp_out.cc",
        "src/plane/rtmp_chunks.cc",
        "src/plane/flv_tags.cc",
        "src/plane/flv_fast.cc",
        "src/plane/h264_rtp.cc",
        "src/plane/parse_testing.cc",
        "src/plane/opus_aac_testing.cc",
        "src/plane/rtp_in_testing.cc",
        "src/srtp_recv.cc",
        "src/srtp_send.cc",
        "src/srtp_protect.cc",
        "src/aac_opus.cc",
        "src/aac_opus_core.cc",
        "src/opus_aac_core.cc"
      ],
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
        "-pthread",
        "<!@(pkg-config --cflags libavformat libavcodec libavutil libswresample opus)"
      ],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++1y", "-fno-exceptions"],
      "ldflags": ["-pthread"],
      "libraries": [
        "<!@(pkg-config --libs libavformat libavcodec libavutil libswresample opus)"
      ]
    }
  ]
}
