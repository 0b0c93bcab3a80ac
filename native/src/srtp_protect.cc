// SRTP protection with Node's OpenSSL: see srtp_protect.h for why. Section numbers refer to RFC 3711 (SRTP, AES-CM
// and HMAC-SHA1, key derivation) and RFC 7714 (AES-GCM for SRTP).

// SHA1_Init/Update/Final are deprecated in OpenSSL 3 but exported by Node; they let the HMAC pads be absorbed
// once per session and copied as a plain struct per packet, which the EVP_MD API cannot do without allocating.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "srtp_protect.h"

#include <openssl/crypto.h>

#include <cstring>
#include <stdexcept>

namespace roomgate {
namespace {

constexpr int kHeaderLen = 12;
constexpr int kCmTagLen = 10;   // HMAC-SHA1 truncated to 80 bits
constexpr int kGcmTagLen = 16;
constexpr int kAuthKeyLen = 20;

/** AES-CM keystream: `out` = first `n` bytes of AES-CTR(key) starting at counter block `iv` (§4.1.1). */
bool AesCmKeystream(const uint8_t key[16], const uint8_t iv[16], uint8_t* out, int n) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  if (!c) return false;
  uint8_t zeros[32] = {};
  int outl = 0;
  bool ok = n <= (int)sizeof zeros && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), nullptr, key, iv) == 1 &&
            EVP_EncryptUpdate(c, out, &outl, zeros, n) == 1 && outl == n;
  EVP_CIPHER_CTX_free(c);
  return ok;
}

/**
 * The AES-CM key derivation function with key_derivation_rate 0 (§4.3.1, §4.3.3): the session key for `label` is
 * the keystream at IV = (master salt XOR label << 48) << 16. A 12-byte GCM master salt is zero-padded to 14 bytes
 * first (RFC 7714 §11; libsrtp and browsers do the same).
 */
bool DeriveSessionKey(const uint8_t masterKey[16], const uint8_t masterSalt[14], uint8_t label, uint8_t* out, int n) {
  uint8_t iv[16] = {};
  memcpy(iv, masterSalt, 14);
  iv[7] ^= label;
  return AesCmKeystream(masterKey, iv, out, n);
}

/** In-place AES-CTR from counter block `iv` with a keyed context. */
bool AesCtr(EVP_CIPHER_CTX* c, const uint8_t iv[16], uint8_t* data, int n) {
  int outl = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv) != 1) return false;
  return n <= 0 || (EVP_EncryptUpdate(c, data, &outl, data, n) == 1 && outl == n);
}

/** In-place AES-GCM with a 12-byte IV: associated data `aad` (+ 4 bytes `aad2` when given), tag (16) at `tag`. */
bool AesGcm(EVP_CIPHER_CTX* c, const uint8_t iv[12], const uint8_t* aad, int aadLen, const uint8_t* aad2, uint8_t* data,
            int n, uint8_t* tag) {
  int outl = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (EVP_EncryptUpdate(c, nullptr, &outl, aad, aadLen) != 1) return false;
  if (aad2 && EVP_EncryptUpdate(c, nullptr, &outl, aad2, 4) != 1) return false;
  if (n > 0 && (EVP_EncryptUpdate(c, data, &outl, data, n) != 1 || outl != n)) return false;
  if (EVP_EncryptFinal_ex(c, tag, &outl) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
}

/** In-place AES-GCM decryption with a 12-byte IV and associated data; false when the 16-byte `tag` does not match. */
bool AesGcmOpen(EVP_CIPHER_CTX* c, const uint8_t iv[12], const uint8_t* aad, int aadLen, uint8_t* data, int n,
                const uint8_t* tag) {
  int outl = 0;
  uint8_t final[16];
  // The context was keyed for encryption; a NULL cipher and key keep both and only turn the direction.
  if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (EVP_DecryptUpdate(c, nullptr, &outl, aad, aadLen) != 1) return false;
  if (n > 0 && (EVP_DecryptUpdate(c, data, &outl, data, n) != 1 || outl != n)) return false;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(tag)) != 1) return false;
  return EVP_DecryptFinal_ex(c, final, &outl) == 1;
}

uint32_t GetU32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

uint16_t GetU16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }

void PutU32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

}  // namespace

size_t SrtpProtector::SaltLength(int profile) {
  return profile == kAes128CmHmacSha1_80 ? 14 : profile == kAeadAes128Gcm ? 12 : 0;
}

SrtpProtector::SrtpProtector(int profile, const uint8_t* masterKey, size_t keyLen, const uint8_t* masterSalt,
                             size_t saltLen)
    : profile_(profile), saltLen_(saltLen) {
  if (SaltLength(profile) == 0) throw std::invalid_argument("unsupported SRTP profile " + std::to_string(profile));
  if (keyLen != 16 || saltLen != SaltLength(profile)) {
    throw std::invalid_argument("key must be 16 bytes and salt " + std::to_string(SaltLength(profile)) + " bytes");
  }
  uint8_t mSalt[14] = {};
  memcpy(mSalt, masterSalt, saltLen);
  // Labels 0–2 key SRTP, 3–5 SRTCP (§4.3.2).
  bool ok = Derive(rtp_, masterKey, mSalt, 0x00) && Derive(rtcp_, masterKey, mSalt, 0x03);
  OPENSSL_cleanse(mSalt, sizeof mSalt);
  if (!ok) {
    EVP_CIPHER_CTX_free(rtp_.cipher);
    EVP_CIPHER_CTX_free(rtcp_.cipher);
    throw std::runtime_error("OpenSSL refused the SRTP key setup");
  }
}

bool SrtpProtector::Derive(Keys& k, const uint8_t masterKey[16], const uint8_t masterSalt[14], uint8_t firstLabel) {
  uint8_t sessionKey[16];
  uint8_t authKey[kAuthKeyLen];
  bool ok = DeriveSessionKey(masterKey, masterSalt, firstLabel, sessionKey, 16) &&
            DeriveSessionKey(masterKey, masterSalt, firstLabel + 2, k.salt, (int)saltLen_);
  if (ok && profile_ == kAes128CmHmacSha1_80) {
    ok = DeriveSessionKey(masterKey, masterSalt, firstLabel + 1, authKey, kAuthKeyLen);
    if (ok) {
      // HMAC (RFC 2104) with a 20-byte key: absorb key ^ ipad and key ^ opad once.
      uint8_t pad[64];
      memset(pad, 0x36, sizeof pad);
      for (int i = 0; i < kAuthKeyLen; i++) pad[i] ^= authKey[i];
      SHA1_Init(&k.hmacInner);
      SHA1_Update(&k.hmacInner, pad, sizeof pad);
      memset(pad, 0x5c, sizeof pad);
      for (int i = 0; i < kAuthKeyLen; i++) pad[i] ^= authKey[i];
      SHA1_Init(&k.hmacOuter);
      SHA1_Update(&k.hmacOuter, pad, sizeof pad);
      OPENSSL_cleanse(pad, sizeof pad);
    }
  }
  if (ok) {
    k.cipher = EVP_CIPHER_CTX_new();
    const EVP_CIPHER* c = profile_ == kAeadAes128Gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
    ok = k.cipher && EVP_EncryptInit_ex(k.cipher, c, nullptr, sessionKey, nullptr) == 1;
  }
  OPENSSL_cleanse(sessionKey, sizeof sessionKey);
  OPENSSL_cleanse(authKey, sizeof authKey);
  return ok;
}

SrtpProtector::~SrtpProtector() {
  for (Keys* k : {&rtp_, &rtcp_}) {
    EVP_CIPHER_CTX_free(k->cipher);
    OPENSSL_cleanse(k, sizeof *k);
  }
}

void SrtpProtector::Hmac80(const Keys& k, const uint8_t* data, size_t len, const uint8_t trailer[4], uint8_t* out) {
  uint8_t inner[SHA_DIGEST_LENGTH];
  uint8_t mac[SHA_DIGEST_LENGTH];
  SHA_CTX h = k.hmacInner;
  SHA1_Update(&h, data, len);
  if (trailer) SHA1_Update(&h, trailer, 4);
  SHA1_Final(inner, &h);
  h = k.hmacOuter;
  SHA1_Update(&h, inner, sizeof inner);
  SHA1_Final(mac, &h);
  memcpy(out, mac, kCmTagLen);
}

SrtpProtector::Stream* SrtpProtector::Find(uint32_t ssrc) {
  for (Stream& x : streams_) {
    if (x.ssrc == ssrc) return &x;
  }
  return nullptr;
}

uint32_t SrtpProtector::EstimateRoc(const Stream* s, uint16_t seq) {
  // The receiver starts an SSRC at ROC 0 with the first packet it sees (§3.3.1).
  if (!s) return 0;
  // Appendix A: which roll is `seq` in, relative to the highest so far? A retransmission is behind it.
  uint32_t roc = s->roc;
  if (s->highest < 32768) {
    if (seq - s->highest > 32768 && roc > 0) roc--;
  } else if (s->highest - 32768 > seq) {
    roc++;
  }
  return roc;
}

void SrtpProtector::Advance(Stream* s, uint32_t ssrc, uint32_t roc, uint16_t seq) {
  if (!s) {
    streams_.push_back({ssrc, roc, seq});
  } else if (roc == s->roc + 1 || (roc == s->roc && seq > s->highest)) {
    s->roc = roc;
    s->highest = seq;
  }
}

void SrtpProtector::MakeIv(const Keys& k, uint32_t ssrc, uint64_t index, uint8_t iv[16]) const {
  memset(iv, 0, 16);
  memcpy(iv, k.salt, saltLen_);
  uint8_t* p = iv + saltLen_ - 10;  // SSRC ‖ 48-bit index, right-aligned under the salt
  p[0] ^= (uint8_t)(ssrc >> 24);
  p[1] ^= (uint8_t)(ssrc >> 16);
  p[2] ^= (uint8_t)(ssrc >> 8);
  p[3] ^= (uint8_t)ssrc;
  for (int i = 0; i < 6; i++) p[4 + i] ^= (uint8_t)(index >> (40 - 8 * i));
}

// AES-CM (§4.1.1, §4.2): payload XOR AES-CTR from the IV, then tag = HMAC-SHA1(k_a, header ‖ payload ‖ ROC)[0..10).
// GCM (RFC 7714 §8.1, §9.1): the header is the associated data, the 16-byte tag follows the ciphertext.
bool SrtpProtector::Protect(uint8_t* packet, int* len) {
  if (*len < kHeaderLen) return false;
  uint16_t seq = GetU16(packet + 2);
  uint32_t ssrc = GetU32(packet + 8);
  Stream* stream = Find(ssrc);
  uint32_t roc = EstimateRoc(stream, seq);
  Advance(stream, ssrc, roc, seq);
  uint8_t iv[16];
  MakeIv(rtp_, ssrc, (uint64_t)roc << 16 | seq, iv);
  uint8_t* payload = packet + kHeaderLen;
  int payloadLen = *len - kHeaderLen;
  if (profile_ == kAeadAes128Gcm) {
    if (!AesGcm(rtp_.cipher, iv, packet, kHeaderLen, nullptr, payload, payloadLen, packet + *len)) return false;
    *len += kGcmTagLen;
    return true;
  }
  if (!AesCtr(rtp_.cipher, iv, payload, payloadLen)) return false;
  uint8_t rocBytes[4];
  PutU32(rocBytes, roc);
  Hmac80(rtp_, packet, (size_t)*len, rocBytes, packet + *len);
  *len += kCmTagLen;
  return true;
}

int SrtpProtector::Unprotect(uint8_t* packet, int len) {
  // RTP header (RFC 3550 §5.1): 12 bytes, then CSRCs, then an optional extension (4 bytes + its length in words).
  if (len < kHeaderLen || packet[0] >> 6 != 2) return kNotSrtp;
  int headerLen = kHeaderLen + 4 * (packet[0] & 0x0f);
  if (packet[0] & 0x10) {
    if (len < headerLen + 4) return kNotSrtp;
    headerLen += 4 + 4 * GetU16(packet + headerLen + 2);
  }
  const int tagLen = profile_ == kAeadAes128Gcm ? kGcmTagLen : kCmTagLen;
  const int end = len - tagLen;  // where the ciphertext ends and the tag begins
  if (end < headerLen) return kNotSrtp;
  uint16_t seq = GetU16(packet + 2);
  uint32_t ssrc = GetU32(packet + 8);
  Stream* stream = Find(ssrc);
  uint32_t roc = EstimateRoc(stream, seq);
  uint8_t iv[16];
  MakeIv(rtp_, ssrc, (uint64_t)roc << 16 | seq, iv);
  if (profile_ == kAeadAes128Gcm) {
    if (!AesGcmOpen(rtp_.cipher, iv, packet, headerLen, packet + headerLen, end - headerLen, packet + end)) {
      return kAuthFailed;
    }
  } else {
    uint8_t rocBytes[4];
    uint8_t expected[kCmTagLen];
    PutU32(rocBytes, roc);
    Hmac80(rtp_, packet, (size_t)end, rocBytes, expected);
    if (CRYPTO_memcmp(expected, packet + end, kCmTagLen) != 0) return kAuthFailed;
    if (!AesCtr(rtp_.cipher, iv, packet + headerLen, end - headerLen)) return kCryptoFailed;
  }
  Advance(stream, ssrc, roc, seq);
  return end;
}

uint32_t SrtpProtector::NextRtcpIndex(uint32_t ssrc) {
  for (auto& e : rtcpIndex_) {
    if (e.first == ssrc) return e.second = (e.second + 1) & 0x7fffffff;
  }
  rtcpIndex_.push_back({ssrc, 1});
  return 1;
}

// §3.4 (AES-CM): everything after the first 8 bytes encrypted, then E-flag ‖ index, then HMAC-SHA1 over all of
// that. RFC 7714 §9.2 and §17 (GCM): associated data = first 8 bytes ‖ E-flag ‖ index, then tag, then E ‖ index.
// The IV is built like SRTP's, with the 31-bit SRTCP index as the packet index.
bool SrtpProtector::ProtectRtcp(uint8_t* packet, int* len) {
  if (*len < 8) return false;
  uint32_t ssrc = GetU32(packet + 4);
  uint32_t index = NextRtcpIndex(ssrc);
  uint8_t eIndex[4];
  PutU32(eIndex, 0x80000000u | index);
  uint8_t iv[16];
  MakeIv(rtcp_, ssrc, index, iv);
  int bodyLen = *len - 8;
  if (profile_ == kAeadAes128Gcm) {
    if (!AesGcm(rtcp_.cipher, iv, packet, 8, eIndex, packet + 8, bodyLen, packet + *len)) return false;
    memcpy(packet + *len + kGcmTagLen, eIndex, 4);
    *len += kGcmTagLen + 4;
    return true;
  }
  if (!AesCtr(rtcp_.cipher, iv, packet + 8, bodyLen)) return false;
  memcpy(packet + *len, eIndex, 4);
  *len += 4;
  Hmac80(rtcp_, packet, (size_t)*len, nullptr, packet + *len);
  *len += kCmTagLen;
  return true;
}

}  // namespace roomgate
