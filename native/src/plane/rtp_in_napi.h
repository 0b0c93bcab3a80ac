// RtpIn's counters and report blocks as JavaScript objects (src/native/rtmp-plane.ts RtpReport), for the addon's
// rtpReport and the test-only testing.rtpIn alike.

#pragma once

#include <napi.h>

#include <vector>

#include "rtp_in.h"

namespace roomgate::plane {

inline Napi::Object RtpCountersObject(Napi::Env env, const RtpInCounters& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("packets", (double)c.packets);
  o.Set("bytes", (double)c.bytes);
  o.Set("rejected", (double)c.rejected);
  o.Set("unknownPayload", (double)c.unknownPayload);
  o.Set("nacked", (double)c.nacked);
  o.Set("recovered", (double)c.recovered);
  o.Set("gaveUp", (double)c.gaveUp);
  o.Set("tooLate", (double)c.tooLate);
  o.Set("lastRtpAt", c.lastRtpAt);
  return o;
}

inline Napi::Array RtpReportArray(Napi::Env env, const std::vector<RtpSourceReport>& reports) {
  Napi::Array a = Napi::Array::New(env, reports.size());
  for (size_t i = 0; i < reports.size(); i++) {
    const RtpSourceReport& r = reports[i];
    Napi::Object s = Napi::Object::New(env);
    s.Set("ssrc", (double)r.ssrc);
    s.Set("video", r.video);
    s.Set("received", (double)r.received);
    s.Set("extendedHighest", (double)r.extendedHighest);
    s.Set("cumulativeLost", (double)r.cumulativeLost);
    s.Set("fractionLost", (double)r.fractionLost);
    s.Set("jitter", (double)r.jitter);
    a.Set((uint32_t)i, s);
  }
  return a;
}

}  // namespace roomgate::plane
