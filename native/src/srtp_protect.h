// SRTP protection of outgoing RTP packets, and unprotection of incoming ones (RFC 3711, RFC 7714), with the OpenSSL
// that Node itself links.
//
// Why not libsrtp2: Debian builds it on NSS, which creates a cipher context (malloc, slot lookup, locks) for every
// packet; that was a fifth of the native send path's CPU. Here each session keeps one AES context and a SHA-1
// state with the HMAC pads already absorbed, so a packet costs one AES pass (and a hash for AES-CM), no allocation.
//
// One session per DTLS transport and direction (one master key), any number of SSRCs (audio, video), packets in
// order or retransmitted (NACK) within the last 2^15 sequence numbers. A sending session also protects the RTCP
// its senders originate (sender reports), as SRTCP with its own keys and index; a receiving session unprotects RTP
// (the few SRTCP packets a publisher sends are left to werift).

#pragma once

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace roomgate {

/** DTLS-SRTP protection profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2). */
enum SrtpProfile : int { kAes128CmHmacSha1_80 = 1, kAeadAes128Gcm = 7 };

/** Bytes an SRTP packet is longer than its RTP packet, at most. */
constexpr int kSrtpMaxTrailer = 16;
/** Bytes an SRTCP packet is longer than its RTCP packet, at most (index word + tag). */
constexpr int kSrtcpMaxTrailer = 4 + 16;

class SrtpProtector {
 public:
  /** Throws std::invalid_argument for an unknown profile or a key/salt of the wrong size. */
  SrtpProtector(int profile, const uint8_t* masterKey, size_t keyLen, const uint8_t* masterSalt, size_t saltLen);
  ~SrtpProtector();
  SrtpProtector(const SrtpProtector&) = delete;
  SrtpProtector& operator=(const SrtpProtector&) = delete;

  /** The master salt length the profile expects (14 AES-CM, 12 GCM), or 0 for an unknown profile. */
  static size_t SaltLength(int profile);

  /**
   * Encrypts the RTP packet at `packet` (a 12-byte header without CSRCs or extension, then the payload) in place
   * and appends the tag; `len` grows by the trailer. The buffer must have kSrtpMaxTrailer bytes to spare.
   * Returns false only if OpenSSL fails.
   */
  bool Protect(uint8_t* packet, int* len);

  /**
   * Encrypts the RTCP compound packet at `packet` (its first SSRC is the sender's) in place and appends the SRTCP
   * index and tag (kSrtcpMaxTrailer bytes to spare). Returns false if the packet is shorter than 8 bytes or
   * OpenSSL fails.
   */
  bool ProtectRtcp(uint8_t* packet, int* len);

  /** Unprotect's answers below zero. */
  enum UnprotectError : int { kNotSrtp = -1, kAuthFailed = -2, kCryptoFailed = -3 };

  /**
   * Checks the tag of the SRTP packet at `packet` (`len` bytes, any RTP header: CSRCs, extension) and decrypts
   * its payload in place. Returns the RTP packet's length (the tag cut off), or an UnprotectError: kNotSrtp when
   * it is too short or not RTP version 2, kAuthFailed when the tag does not match (then the buffer holds garbage).
   * The rollover counter is estimated as RFC 3711 Appendix A says and advances only with authentic packets. No
   * replay list: like werift's receiver, a packet resent with its sequence number (NACK without RTX) is accepted.
   */
  int Unprotect(uint8_t* packet, int len);

 private:
  struct Stream {
    uint32_t ssrc;
    uint32_t roc;       // rollover counter: how many times this SSRC's sequence number wrapped
    uint16_t highest;   // highest sequence number sent in the current roll
  };

  /** Keys for one direction of one protocol (SRTP or SRTCP): cipher, salt and HMAC pads. */
  struct Keys {
    uint8_t salt[14] = {};              // session salt (14 bytes AES-CM, first 12 used by GCM)
    EVP_CIPHER_CTX* cipher = nullptr;   // AES-128-CTR or AES-128-GCM, keyed with the session key
    SHA_CTX hmacInner{};                // SHA-1 after key ^ ipad (AES-CM profile only)
    SHA_CTX hmacOuter{};                // SHA-1 after key ^ opad
  };

  /** Derives `k` from the master key and salt with the labels for encryption, authentication and salt (§4.3.2). */
  bool Derive(Keys& k, const uint8_t masterKey[16], const uint8_t masterSalt[14], uint8_t firstLabel);
  /** HMAC-SHA1(k, data ‖ trailer) truncated to 80 bits, written at `out`. */
  static void Hmac80(const Keys& k, const uint8_t* data, size_t len, const uint8_t trailer[4], uint8_t* out);

  /** The stream of `ssrc`, or null before its first packet. */
  Stream* Find(uint32_t ssrc);
  /** The rollover counter of `seq` relative to the stream's highest sequence number (RFC 3711 Appendix A). */
  static uint32_t EstimateRoc(const Stream* s, uint16_t seq);
  /** Records that `seq` in roll `roc` was sent or authentically received (a new stream, or a new highest). */
  void Advance(Stream* s, uint32_t ssrc, uint32_t roc, uint16_t seq);
  /** The next SRTCP index (31 bits) for packets from `ssrc`. */
  uint32_t NextRtcpIndex(uint32_t ssrc);
  /**
   * The IV of both profiles: the session salt XOR (SSRC ‖ 48-bit packet index), right-aligned under the 14-byte
   * AES-CM salt with a 2-byte block counter after it (RFC 3711 §4.1.1), or under the 12-byte GCM salt (RFC 7714
   * §8.1, §9.1). SRTP's index is ROC ‖ SEQ, SRTCP's its 31-bit index.
   */
  void MakeIv(const Keys& k, uint32_t ssrc, uint64_t index, uint8_t iv[16]) const;

  int profile_;
  size_t saltLen_;
  Keys rtp_;
  Keys rtcp_;
  std::vector<Stream> streams_;
  std::vector<std::pair<uint32_t, uint32_t>> rtcpIndex_;  // SSRC → last SRTCP index sent
};

}  // namespace roomgate
