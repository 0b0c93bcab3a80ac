// The SrtpSender addon class (srtp_send.cc) as the RTMP data plane sees it: the SRTP session of one viewer's DTLS
// transport, shared between the JavaScript thread (RTP from WHIP and pull publishers, sender reports) and the data
// plane's thread (RTP from RTMP publishers). The mutex makes the two take turns; the session lives as long as either
// side holds it.

#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "srtp_protect.h"

namespace roomgate {

struct SharedSrtp {
  std::mutex mu;
  std::unique_ptr<SrtpProtector> protector;  // null once the JavaScript side closed the sender
};

/** Adds the SrtpSender class to `exports`. */
void InitSrtpSender(Napi::Env env, Napi::Object exports);

/** The session of an SrtpSender object, or null when `value` is not one. */
std::shared_ptr<SharedSrtp> SrtpSessionOf(Napi::Value value);

}  // namespace roomgate
