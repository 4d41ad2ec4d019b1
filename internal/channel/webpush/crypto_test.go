package webpush_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/herald-notify/herald/internal/channel/webpush"
)

// RFC 8291 section 5 and Appendix A ("Intermediate Values for
// Encryption"), whitespace removed as the RFC allows.
const (
	rfcPlaintext  = "When I grow up, I want to be a watermelon"
	rfcASPublic   = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcASPrivate  = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcUAPublic   = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcUAPrivate  = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcSalt       = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcAuth       = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcECDHSecret = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs"
	rfcCEK        = "oIhVW04MRdy2XN9CiKLxTg"
	rfcNonce      = "4h_95klXJ5E_qnoN"
	rfcHeader     = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcCiphertext = "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ"
	rfcBody       = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

// RFC 8292 section 2.4: the example token and the key that signed it.
const (
	rfcJWT      = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3B1c2guZXhhbXBsZS5uZXQiLCJleHAiOjE0NTM1MjM3NjgsInN1YiI6Im1haWx0bzpwdXNoQGV4YW1wbGUuY29tIn0.i3CYb7t4xfxCDquptFOepC9GAu_HLGkMlMuCGSK2rpiUfnK9ojFwDXb1JrErtmysazNjjvW2L9OkSSHzvoD1oA"
	rfcVAPIDKey = "BA1Hxzyi1RUM1b5wjxsn7nGxAszw2u61m164i3MrAIxHF6YK5h4SDYic-dRuU_RCPCfA5aq9ojSwk5Y2EmClBPs"
)

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestRFC8291Example(t *testing.T) {
	t.Parallel()
	as, err := ecdh.P256().NewPrivateKey(unb64(t, rfcASPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64(as.PublicKey().Bytes()); got != rfcASPublic {
		t.Fatalf("as_public = %s, want the RFC's", got)
	}
	body, err := webpush.Encrypt([]byte(rfcPlaintext), unb64(t, rfcUAPublic), unb64(t, rfcAuth), as, unb64(t, rfcSalt))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64(body[:86]); got != rfcHeader {
		t.Errorf("header = %s\nwant     %s", got, rfcHeader)
	}
	if got := b64(body[86:]); got != rfcCiphertext {
		t.Errorf("ciphertext = %s\nwant         %s", got, rfcCiphertext)
	}
	if got := b64(body); got != rfcBody {
		t.Errorf("body = %s\nwant   %s", got, rfcBody)
	}

	// The intermediate values, so a failure says which step moved.
	ua, _ := ecdh.P256().NewPublicKey(unb64(t, rfcUAPublic))
	secret, _ := as.ECDH(ua)
	if got := b64(secret); got != rfcECDHSecret {
		t.Errorf("ecdh_secret = %s, want %s", got, rfcECDHSecret)
	}
	cek, nonce, err := webpush.DeriveKeys(secret, unb64(t, rfcAuth), unb64(t, rfcSalt), unb64(t, rfcUAPublic), unb64(t, rfcASPublic))
	if err != nil {
		t.Fatal(err)
	}
	if b64(cek) != rfcCEK || b64(nonce) != rfcNonce {
		t.Errorf("CEK, NONCE = %s, %s, want %s, %s", b64(cek), b64(nonce), rfcCEK, rfcNonce)
	}
}

// decrypt is the user agent's side of RFC 8291, written from the RFC
// independently of the package: read the aes128gcm header, derive the
// keys with the user agent's private key, open the record, strip the
// padding.
func decrypt(body []byte, uaPrivate *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if rs != 4096 || idlen != 65 || len(body) < 21+idlen+17 {
		return nil, errors.New("bad aes128gcm header")
	}
	asPublic, ciphertext := body[21:21+idlen], body[21+idlen:]
	if len(ciphertext) > int(rs) {
		return nil, errors.New("more than one record")
	}
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, err
	}
	secret, err := uaPrivate.ECDH(as)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), uaPrivate.PublicKey().Bytes()...), asPublic...)
	ikm, _ := hkdf.Key(sha256.New, secret, auth, string(info), 32)
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, err
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 0x02 {
		return nil, errors.New("padding delimiter is not 0x02 (not the last record)")
	}
	return plain[:i], nil
}

func TestDecryptRFCExample(t *testing.T) {
	t.Parallel()
	ua, err := ecdh.P256().NewPrivateKey(unb64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := decrypt(unb64(t, rfcBody), ua, unb64(t, rfcAuth))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != rfcPlaintext {
		t.Errorf("plaintext = %q", plain)
	}
}

func TestEncryptRejects(t *testing.T) {
	t.Parallel()
	ua, auth := unb64(t, rfcUAPublic), unb64(t, rfcAuth)
	if _, err := webpush.Encrypt(make([]byte, webpush.MaxPlaintext+1), ua, auth, nil, nil); err == nil {
		t.Error("Encrypt accepted a plaintext over 3993 bytes")
	}
	if _, err := webpush.Encrypt([]byte("x"), ua, auth[:8], nil, nil); err == nil {
		t.Error("Encrypt accepted an 8-byte auth secret")
	}
	bad := append([]byte{4}, make([]byte, 64)...)
	if _, err := webpush.Encrypt([]byte("x"), bad, auth, nil, nil); err == nil {
		t.Error("Encrypt accepted a point off the curve")
	}
	body, err := webpush.Encrypt(make([]byte, webpush.MaxPlaintext), ua, auth, nil, nil)
	if err != nil || len(body) != webpush.MaxPayload {
		t.Errorf("a %d-byte plaintext gives %d bytes (%v), want exactly %d", webpush.MaxPlaintext, len(body), err, webpush.MaxPayload)
	}
}

// verifyJWT checks an ES256 JWS with an uncompressed P-256 public key and
// returns its claims.
func verifyJWT(t *testing.T, jwt, key string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q has %d parts", jwt, len(parts))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), unb64(t, key))
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	sig := unb64(t, parts[2])
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64 (r || s)", len(sig))
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("JWT signature does not verify")
	}
	var header map[string]any
	if err := json.Unmarshal(unb64(t, parts[0]), &header); err != nil || header["alg"] != "ES256" || header["typ"] != "JWT" {
		t.Errorf("JWT header = %v (%v), want typ JWT, alg ES256", header, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(unb64(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestRFC8292Example(t *testing.T) {
	t.Parallel()
	// Our signing input for the RFC's claims is the RFC's, byte for byte.
	got := webpush.SigningInput("https://push.example.net", 1453523768, "mailto:push@example.com")
	if want := rfcJWT[:strings.LastIndexByte(rfcJWT, '.')]; got != want {
		t.Errorf("signing input = %s\nwant            %s", got, want)
	}
	// And the RFC's signature verifies the way ours are checked.
	claims := verifyJWT(t, rfcJWT, rfcVAPIDKey)
	if claims["aud"] != "https://push.example.net" || claims["sub"] != "mailto:push@example.com" || claims["exp"] != float64(1453523768) {
		t.Errorf("claims = %v", claims)
	}
}

func TestTopic(t *testing.T) {
	t.Parallel()
	if got := webpush.Topic("order-1001_x"); got != "order-1001_x" {
		t.Errorf("Topic of a safe key = %q", got)
	}
	if webpush.Topic("") != "" {
		t.Error("Topic of an empty key is not empty")
	}
	for _, k := range []string{"shop/order-1001", strings.Repeat("a", 33), "ü"} {
		got := webpush.Topic(k)
		if len(got) != 32 || strings.Trim(got, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("Topic(%q) = %q, want 32 URL-safe base64 characters", k, got)
		}
		if got != webpush.Topic(k) {
			t.Errorf("Topic(%q) is not stable", k)
		}
	}
}
