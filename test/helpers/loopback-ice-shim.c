/* LD_PRELOAD shim so that libnice (GStreamer's webrtcbin, hence simple-whip-client) gathers 127.0.0.1.
 *
 * The WebRTC tests run in a network namespace that has only `lo`. libnice 0.1.21 picks its host candidates in
 * nice_interfaces_get_local_ips(FALSE) (agent/interfaces.c), called by nice_agent_gather_candidates() when nobody
 * added local addresses; webrtcbin adds none and offers no setting for it, and libnice has no environment variable
 * for it either. That function reads getifaddrs() and drops every entry whose ifa_flags has IFF_LOOPBACK (it does
 * not look at the address value). So without this shim the client has no candidate at all and ICE never starts.
 *
 * The shim wraps getifaddrs() and clears IFF_LOOPBACK on the IPv4 entries only: 127.0.0.1 then counts as an
 * ordinary host address, while ::1 stays flagged and ignored, so the client offers exactly 127.0.0.1 (the rule for
 * these tests). Nothing else is changed: the interface, its addresses and the client binary are the real ones. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>
#include <sys/socket.h>

int getifaddrs(struct ifaddrs **ifap) {
  static int (*real)(struct ifaddrs **);
  if (!real) real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
  int r = real(ifap);
  if (r != 0) return r;
  for (struct ifaddrs *i = *ifap; i; i = i->ifa_next)
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) i->ifa_flags &= ~IFF_LOOPBACK;
  return 0;
}
