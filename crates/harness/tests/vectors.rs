//! The test vectors of `docs/harness-format.md`: every value is recomputed from the fixed
//! inputs, and every value must appear verbatim in the document, so the two cannot drift apart.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Duration, TimeZone, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use evalboard_domain::{AnswerKey, DatasetItem, PROMPT_TEMPLATE, dataset_digest};
use evalboard_harness::{
    ALGORITHM, Envelope, KeyId, KeyRing, KeyStatus, MAX_PACK_ITEMS, MAX_REPORTED_PROBLEMS,
    PACK_PAYLOAD_TYPE, PackDataset, PackPayload, PackSigner, TrustedKey, limits, pae,
    prompt_sha256, verify_bundle,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const DOC: &str = include_str!("../../../docs/harness-format.md");

/// RFC 8032's first Ed25519 test key ("TEST 1"), so that its public key can be checked there.
const SEED_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const PUBLIC_KEY_BASE64: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const KEY_ID: &str = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";

const PACK_ID: &str = "pack-0000-test-vector";
const DATASET_DIGEST: &str =
    "sha256:fa1cbcf5c36efa400ead39ed50d9fc216aa97058002c04e6957197c1c770ed45";

const PAYLOAD_JSON: &str = r#"{"packId":"pack-0000-test-vector","issuedAt":"2026-01-15T09:30:00Z","expiresAt":"2026-01-22T09:30:00Z","dataset":{"name":"vector-demo","version":1,"digest":"sha256:fa1cbcf5c36efa400ead39ed50d9fc216aa97058002c04e6957197c1c770ed45"},"target":"chatgpt-web","promptTemplate":"mmlu-pro-cot-v2","items":[{"sequence":1,"datasetItemId":"q1","promptText":"The following are multiple choice questions (with answers) about math. Think step by step and then output the answer in the format of \"The answer is (X)\" at the end.\n\nQuestion: What is 6 × 7?\nOptions: A. 42\nB. 48\nC. 67\nAnswer: Let's think step by step.\n\n","choices":["42","48","67"],"promptSha256":"e9ee5b553e93f96e048d3c00555871431a34d92749d0378b3c7b2c6b1f7b8bb9"},{"sequence":2,"datasetItemId":"q2","promptText":"The following are multiple choice questions (with answers) about physics. Think step by step and then output the answer in the format of \"The answer is (X)\" at the end.\n\nQuestion: Which unit measures force?\nOptions: A. joule\nB. newton\nC. watt\nD. pascal\nAnswer: Let's think step by step.\n\n","choices":["joule","newton","watt","pascal"],"promptSha256":"3aeb5493042a5a2215164e3072909af91c795296f64382f8533a1fb0df76410d"}]}"#;
const PAYLOAD_LENGTH: &str = "1203 bytes";

const PAE_TEXT: &str = r#"DSSEv1 46 application/vnd.evalboard.harness-pack.v1+json 1203 {"packId":"pack-0000-test-vector","issuedAt":"2026-01-15T09:30:00Z","expiresAt":"2026-01-22T09:30:00Z","dataset":{"name":"vector-demo","version":1,"digest":"sha256:fa1cbcf5c36efa400ead39ed50d9fc216aa97058002c04e6957197c1c770ed45"},"target":"chatgpt-web","promptTemplate":"mmlu-pro-cot-v2","items":[{"sequence":1,"datasetItemId":"q1","promptText":"The following are multiple choice questions (with answers) about math. Think step by step and then output the answer in the format of \"The answer is (X)\" at the end.\n\nQuestion: What is 6 × 7?\nOptions: A. 42\nB. 48\nC. 67\nAnswer: Let's think step by step.\n\n","choices":["42","48","67"],"promptSha256":"e9ee5b553e93f96e048d3c00555871431a34d92749d0378b3c7b2c6b1f7b8bb9"},{"sequence":2,"datasetItemId":"q2","promptText":"The following are multiple choice questions (with answers) about physics. Think step by step and then output the answer in the format of \"The answer is (X)\" at the end.\n\nQuestion: Which unit measures force?\nOptions: A. joule\nB. newton\nC. watt\nD. pascal\nAnswer: Let's think step by step.\n\n","choices":["joule","newton","watt","pascal"],"promptSha256":"3aeb5493042a5a2215164e3072909af91c795296f64382f8533a1fb0df76410d"}]}"#;
const PAE_SHA256: &str = "36645d7afba97ef4158b61f5c9083b2444e9c4ee358f1e5b98601ba05a049dd4";

const PAYLOAD_BASE64: &str = "eyJwYWNrSWQiOiJwYWNrLTAwMDAtdGVzdC12ZWN0b3IiLCJpc3N1ZWRBdCI6IjIwMjYtMDEtMTVUMDk6MzA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0yMlQwOTozMDowMFoiLCJkYXRhc2V0Ijp7Im5hbWUiOiJ2ZWN0b3ItZGVtbyIsInZlcnNpb24iOjEsImRpZ2VzdCI6InNoYTI1NjpmYTFjYmNmNWMzNmVmYTQwMGVhZDM5ZWQ1MGQ5ZmMyMTZhYTk3MDU4MDAyYzA0ZTY5NTcxOTdjMWM3NzBlZDQ1In0sInRhcmdldCI6ImNoYXRncHQtd2ViIiwicHJvbXB0VGVtcGxhdGUiOiJtbWx1LXByby1jb3QtdjIiLCJpdGVtcyI6W3sic2VxdWVuY2UiOjEsImRhdGFzZXRJdGVtSWQiOiJxMSIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IG1hdGguIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hhdCBpcyA2IMOXIDc/XG5PcHRpb25zOiBBLiA0MlxuQi4gNDhcbkMuIDY3XG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC5cblxuIiwiY2hvaWNlcyI6WyI0MiIsIjQ4IiwiNjciXSwicHJvbXB0U2hhMjU2IjoiZTllZTViNTUzZTkzZjk2ZTA0OGQzYzAwNTU1ODcxNDMxYTM0ZDkyNzQ5ZDAzNzhiM2M3YjJjNmIxZjdiOGJiOSJ9LHsic2VxdWVuY2UiOjIsImRhdGFzZXRJdGVtSWQiOiJxMiIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IHBoeXNpY3MuIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hpY2ggdW5pdCBtZWFzdXJlcyBmb3JjZT9cbk9wdGlvbnM6IEEuIGpvdWxlXG5CLiBuZXd0b25cbkMuIHdhdHRcbkQuIHBhc2NhbFxuQW5zd2VyOiBMZXQncyB0aGluayBzdGVwIGJ5IHN0ZXAuXG5cbiIsImNob2ljZXMiOlsiam91bGUiLCJuZXd0b24iLCJ3YXR0IiwicGFzY2FsIl0sInByb21wdFNoYTI1NiI6IjNhZWI1NDkzMDQyYTVhMjIxNTE2NGUzMDcyOTA5YWY5MWM3OTUyOTZmNjQzODJmODUzM2ExZmIwZGY3NjQxMGQifV19";
const SIGNATURE_BASE64: &str =
    "OgEMCwH4EPzWOvQ80SSCNzCdd0CCuBea9Ky0U1tbM9aXspvixiMHgfa9Lq5WLSo9Zq0EhbfYPERbVnK3VU2PAg==";

const ENVELOPE_JSON: &str = r#"{
  "payloadType": "application/vnd.evalboard.harness-pack.v1+json",
  "payload": "eyJwYWNrSWQiOiJwYWNrLTAwMDAtdGVzdC12ZWN0b3IiLCJpc3N1ZWRBdCI6IjIwMjYtMDEtMTVUMDk6MzA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0yMlQwOTozMDowMFoiLCJkYXRhc2V0Ijp7Im5hbWUiOiJ2ZWN0b3ItZGVtbyIsInZlcnNpb24iOjEsImRpZ2VzdCI6InNoYTI1NjpmYTFjYmNmNWMzNmVmYTQwMGVhZDM5ZWQ1MGQ5ZmMyMTZhYTk3MDU4MDAyYzA0ZTY5NTcxOTdjMWM3NzBlZDQ1In0sInRhcmdldCI6ImNoYXRncHQtd2ViIiwicHJvbXB0VGVtcGxhdGUiOiJtbWx1LXByby1jb3QtdjIiLCJpdGVtcyI6W3sic2VxdWVuY2UiOjEsImRhdGFzZXRJdGVtSWQiOiJxMSIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IG1hdGguIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hhdCBpcyA2IMOXIDc/XG5PcHRpb25zOiBBLiA0MlxuQi4gNDhcbkMuIDY3XG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC5cblxuIiwiY2hvaWNlcyI6WyI0MiIsIjQ4IiwiNjciXSwicHJvbXB0U2hhMjU2IjoiZTllZTViNTUzZTkzZjk2ZTA0OGQzYzAwNTU1ODcxNDMxYTM0ZDkyNzQ5ZDAzNzhiM2M3YjJjNmIxZjdiOGJiOSJ9LHsic2VxdWVuY2UiOjIsImRhdGFzZXRJdGVtSWQiOiJxMiIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IHBoeXNpY3MuIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hpY2ggdW5pdCBtZWFzdXJlcyBmb3JjZT9cbk9wdGlvbnM6IEEuIGpvdWxlXG5CLiBuZXd0b25cbkMuIHdhdHRcbkQuIHBhc2NhbFxuQW5zd2VyOiBMZXQncyB0aGluayBzdGVwIGJ5IHN0ZXAuXG5cbiIsImNob2ljZXMiOlsiam91bGUiLCJuZXd0b24iLCJ3YXR0IiwicGFzY2FsIl0sInByb21wdFNoYTI1NiI6IjNhZWI1NDkzMDQyYTVhMjIxNTE2NGUzMDcyOTA5YWY5MWM3OTUyOTZmNjQzODJmODUzM2ExZmIwZGY3NjQxMGQifV19",
  "signatures": [
    {
      "keyid": "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
      "sig": "OgEMCwH4EPzWOvQ80SSCNzCdd0CCuBea9Ky0U1tbM9aXspvixiMHgfa9Lq5WLSo9Zq0EhbfYPERbVnK3VU2PAg=="
    }
  ]
}"#;

const PROMPT_1_TEXT: &str = "The following are multiple choice questions (with answers) about math. Think step by step and then output the answer in the format of \"The answer is (X)\" at the end.

Question: What is 6 × 7?
Options: A. 42
B. 48
C. 67
Answer: Let's think step by step.

";
const PROMPT_1_SHA256: &str = "e9ee5b553e93f96e048d3c00555871431a34d92749d0378b3c7b2c6b1f7b8bb9";

const BUNDLE_JSON: &str = r#"{
  "envelope": {
    "payloadType": "application/vnd.evalboard.harness-pack.v1+json",
    "payload": "eyJwYWNrSWQiOiJwYWNrLTAwMDAtdGVzdC12ZWN0b3IiLCJpc3N1ZWRBdCI6IjIwMjYtMDEtMTVUMDk6MzA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0yMlQwOTozMDowMFoiLCJkYXRhc2V0Ijp7Im5hbWUiOiJ2ZWN0b3ItZGVtbyIsInZlcnNpb24iOjEsImRpZ2VzdCI6InNoYTI1NjpmYTFjYmNmNWMzNmVmYTQwMGVhZDM5ZWQ1MGQ5ZmMyMTZhYTk3MDU4MDAyYzA0ZTY5NTcxOTdjMWM3NzBlZDQ1In0sInRhcmdldCI6ImNoYXRncHQtd2ViIiwicHJvbXB0VGVtcGxhdGUiOiJtbWx1LXByby1jb3QtdjIiLCJpdGVtcyI6W3sic2VxdWVuY2UiOjEsImRhdGFzZXRJdGVtSWQiOiJxMSIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IG1hdGguIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hhdCBpcyA2IMOXIDc/XG5PcHRpb25zOiBBLiA0MlxuQi4gNDhcbkMuIDY3XG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC5cblxuIiwiY2hvaWNlcyI6WyI0MiIsIjQ4IiwiNjciXSwicHJvbXB0U2hhMjU2IjoiZTllZTViNTUzZTkzZjk2ZTA0OGQzYzAwNTU1ODcxNDMxYTM0ZDkyNzQ5ZDAzNzhiM2M3YjJjNmIxZjdiOGJiOSJ9LHsic2VxdWVuY2UiOjIsImRhdGFzZXRJdGVtSWQiOiJxMiIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IHBoeXNpY3MuIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hpY2ggdW5pdCBtZWFzdXJlcyBmb3JjZT9cbk9wdGlvbnM6IEEuIGpvdWxlXG5CLiBuZXd0b25cbkMuIHdhdHRcbkQuIHBhc2NhbFxuQW5zd2VyOiBMZXQncyB0aGluayBzdGVwIGJ5IHN0ZXAuXG5cbiIsImNob2ljZXMiOlsiam91bGUiLCJuZXd0b24iLCJ3YXR0IiwicGFzY2FsIl0sInByb21wdFNoYTI1NiI6IjNhZWI1NDkzMDQyYTVhMjIxNTE2NGUzMDcyOTA5YWY5MWM3OTUyOTZmNjQzODJmODUzM2ExZmIwZGY3NjQxMGQifV19",
    "signatures": [
      {
        "keyid": "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
        "sig": "OgEMCwH4EPzWOvQ80SSCNzCdd0CCuBea9Ky0U1tbM9aXspvixiMHgfa9Lq5WLSo9Zq0EhbfYPERbVnK3VU2PAg=="
      }
    ]
  },
  "harness": {
    "name": "example-harness",
    "version": "0.1.0",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
  },
  "captures": [
    {
      "sequence": 1,
      "promptSha256": "e9ee5b553e93f96e048d3c00555871431a34d92749d0378b3c7b2c6b1f7b8bb9",
      "responseText": "6 × 7 = 42. The answer is (A).",
      "startedAt": "2026-01-15T10:00:00.000Z",
      "finishedAt": "2026-01-15T10:00:03.250Z",
      "chunks": [
        {"offset": 0, "text": "6 × 7 = 42.", "at": "2026-01-15T10:00:01.500Z"},
        {"offset": 11, "text": " The answer is (A).", "at": "2026-01-15T10:00:03.100Z"}
      ],
      "page": {"url": "https://chat.example/c/42", "title": "Multiplication"}
    }
  ]
}"#;
const BUNDLE_CANONICAL: &str = r#"{"captures":[{"chunks":[{"at":"2026-01-15T10:00:01.500Z","offset":0,"text":"6 × 7 = 42."},{"at":"2026-01-15T10:00:03.100Z","offset":11,"text":" The answer is (A)."}],"finishedAt":"2026-01-15T10:00:03.250Z","page":{"title":"Multiplication","url":"https://chat.example/c/42"},"promptSha256":"e9ee5b553e93f96e048d3c00555871431a34d92749d0378b3c7b2c6b1f7b8bb9","responseText":"6 × 7 = 42. The answer is (A).","sequence":1,"startedAt":"2026-01-15T10:00:00.000Z"}],"envelope":{"payload":"eyJwYWNrSWQiOiJwYWNrLTAwMDAtdGVzdC12ZWN0b3IiLCJpc3N1ZWRBdCI6IjIwMjYtMDEtMTVUMDk6MzA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0yMlQwOTozMDowMFoiLCJkYXRhc2V0Ijp7Im5hbWUiOiJ2ZWN0b3ItZGVtbyIsInZlcnNpb24iOjEsImRpZ2VzdCI6InNoYTI1NjpmYTFjYmNmNWMzNmVmYTQwMGVhZDM5ZWQ1MGQ5ZmMyMTZhYTk3MDU4MDAyYzA0ZTY5NTcxOTdjMWM3NzBlZDQ1In0sInRhcmdldCI6ImNoYXRncHQtd2ViIiwicHJvbXB0VGVtcGxhdGUiOiJtbWx1LXByby1jb3QtdjIiLCJpdGVtcyI6W3sic2VxdWVuY2UiOjEsImRhdGFzZXRJdGVtSWQiOiJxMSIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IG1hdGguIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hhdCBpcyA2IMOXIDc/XG5PcHRpb25zOiBBLiA0MlxuQi4gNDhcbkMuIDY3XG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC5cblxuIiwiY2hvaWNlcyI6WyI0MiIsIjQ4IiwiNjciXSwicHJvbXB0U2hhMjU2IjoiZTllZTViNTUzZTkzZjk2ZTA0OGQzYzAwNTU1ODcxNDMxYTM0ZDkyNzQ5ZDAzNzhiM2M3YjJjNmIxZjdiOGJiOSJ9LHsic2VxdWVuY2UiOjIsImRhdGFzZXRJdGVtSWQiOiJxMiIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IHBoeXNpY3MuIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hpY2ggdW5pdCBtZWFzdXJlcyBmb3JjZT9cbk9wdGlvbnM6IEEuIGpvdWxlXG5CLiBuZXd0b25cbkMuIHdhdHRcbkQuIHBhc2NhbFxuQW5zd2VyOiBMZXQncyB0aGluayBzdGVwIGJ5IHN0ZXAuXG5cbiIsImNob2ljZXMiOlsiam91bGUiLCJuZXd0b24iLCJ3YXR0IiwicGFzY2FsIl0sInByb21wdFNoYTI1NiI6IjNhZWI1NDkzMDQyYTVhMjIxNTE2NGUzMDcyOTA5YWY5MWM3OTUyOTZmNjQzODJmODUzM2ExZmIwZGY3NjQxMGQifV19","payloadType":"application/vnd.evalboard.harness-pack.v1+json","signatures":[{"keyid":"21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9","sig":"OgEMCwH4EPzWOvQ80SSCNzCdd0CCuBea9Ky0U1tbM9aXspvixiMHgfa9Lq5WLSo9Zq0EhbfYPERbVnK3VU2PAg=="}]},"harness":{"name":"example-harness","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0","version":"0.1.0"}}"#;
const BUNDLE_DIGEST: &str =
    "sha256:b3826d3bc3cfb6071f4d95ce70d05c9587482942e61e4f89ca481bb9d1b37025";

fn seed() -> [u8; 32] {
    hex::decode(SEED_HEX).unwrap().try_into().unwrap()
}

fn signer() -> PackSigner {
    PackSigner::from_seed(&seed())
}

fn items() -> Vec<DatasetItem> {
    vec![
        DatasetItem {
            id: "q1".into(),
            category: "math".into(),
            question: "What is 6 × 7?".into(),
            choices: vec!["42".into(), "48".into(), "67".into()],
            answer: AnswerKey::from_letter("A").unwrap().into(),
            explanation: None,
            source: None,
        },
        DatasetItem {
            id: "q2".into(),
            category: "physics".into(),
            question: "Which unit measures force?".into(),
            choices: ["joule", "newton", "watt", "pascal"]
                .map(Into::into)
                .to_vec(),
            answer: AnswerKey::from_letter("B").unwrap().into(),
            explanation: None,
            source: None,
        },
    ]
}

fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap()
}

/// Built with a fraction of a second on the times, which the pack cuts off.
fn pack() -> PackPayload {
    let items = items();
    let issued = issued() + Duration::milliseconds(750);
    PackPayload::build(
        PACK_ID.into(),
        issued,
        issued + Duration::days(7),
        PackDataset {
            name: "vector-demo".into(),
            version: 1,
            digest: dataset_digest(&items),
        },
        "chatgpt-web".into(),
        &items,
    )
}

fn ring() -> KeyRing {
    KeyRing::new([TrustedKey::new(signer().public_key(), KeyStatus::Active)])
}

/// The canonical JSON of the format document, written here independently of the crate's.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(key, value)| format!("{}:{}", Value::from(key.as_str()), canonical(value)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(list) => {
            let values: Vec<String> = list.iter().map(canonical).collect();
            format!("[{}]", values.join(","))
        }
        scalar => scalar.to_string(),
    }
}

#[test]
fn the_key_is_rfc_8032_test_1_and_its_id_is_the_hash_of_its_raw_bytes() {
    let public = signer().public_key();
    assert_eq!(hex::encode(public.as_bytes()), PUBLIC_KEY_HEX);
    assert_eq!(BASE64.encode(public.as_bytes()), PUBLIC_KEY_BASE64);
    assert_eq!(signer().id().as_str(), KEY_ID);
    assert_eq!(KeyId::of(&public).as_str(), KEY_ID);
    assert_eq!(hex::encode(Sha256::digest(public.as_bytes())), KEY_ID);
    let published = TrustedKey::new(public, KeyStatus::Active);
    assert_eq!(published.public_key_base64(), PUBLIC_KEY_BASE64);
    assert_eq!(
        evalboard_harness::parse_public_key(PUBLIC_KEY_BASE64).unwrap(),
        public
    );
}

#[test]
fn the_payload_is_the_compact_json_of_the_pack() {
    let pack = pack();
    assert_eq!(pack.dataset.digest, DATASET_DIGEST);
    assert_eq!(pack.prompt_template, PROMPT_TEMPLATE);
    let payload = pack.to_bytes();
    assert_eq!(String::from_utf8(payload.clone()).unwrap(), PAYLOAD_JSON);
    assert_eq!(format!("{} bytes", payload.len()), PAYLOAD_LENGTH);
    let read: PackPayload = serde_json::from_str(PAYLOAD_JSON).unwrap();
    assert_eq!(read, pack);
}

#[test]
fn the_pae_is_dsse_v1_with_lengths_in_bytes() {
    let payload = PAYLOAD_JSON.as_bytes();
    let encoded = pae(PACK_PAYLOAD_TYPE, payload);
    assert_eq!(String::from_utf8(encoded.clone()).unwrap(), PAE_TEXT);
    let by_hand = format!(
        "DSSEv1 {} {PACK_PAYLOAD_TYPE} {} {PAYLOAD_JSON}",
        PACK_PAYLOAD_TYPE.len(),
        payload.len()
    );
    assert_eq!(by_hand, PAE_TEXT);
    assert_ne!(
        payload.len(),
        PAYLOAD_JSON.chars().count(),
        "the payload has a non-ASCII character, so bytes and characters differ"
    );
    assert_eq!(hex::encode(Sha256::digest(&encoded)), PAE_SHA256);
}

#[test]
fn the_envelope_is_deterministic_and_verifies_with_plain_ed25519() {
    let envelope = pack().sign(&signer());
    assert_eq!(envelope.payload_type, PACK_PAYLOAD_TYPE);
    assert_eq!(envelope.payload, PAYLOAD_BASE64);
    assert_eq!(envelope.signatures.len(), 1);
    assert_eq!(envelope.signatures[0].keyid, KEY_ID);
    assert_eq!(envelope.signatures[0].sig, SIGNATURE_BASE64);
    assert_eq!(
        serde_json::to_string_pretty(&envelope).unwrap(),
        ENVELOPE_JSON
    );
    let read: Envelope = serde_json::from_str(ENVELOPE_JSON).unwrap();
    assert_eq!(read, envelope);
    assert_eq!(
        BASE64.decode(PAYLOAD_BASE64).unwrap(),
        PAYLOAD_JSON.as_bytes()
    );

    // What an independent verifier does, with nothing of this crate but the constants.
    let key = VerifyingKey::from_bytes(&hex::decode(PUBLIC_KEY_HEX).unwrap().try_into().unwrap())
        .unwrap();
    let sig: [u8; 64] = BASE64.decode(SIGNATURE_BASE64).unwrap().try_into().unwrap();
    key.verify_strict(PAE_TEXT.as_bytes(), &Signature::from_bytes(&sig))
        .unwrap();
    let mut changed = PAE_TEXT.as_bytes().to_vec();
    *changed.last_mut().unwrap() = b' ';
    assert!(
        key.verify_strict(&changed, &Signature::from_bytes(&sig))
            .is_err()
    );
}

#[test]
fn a_prompt_hash_is_the_sha256_of_its_utf8_text() {
    let pack = pack();
    assert_eq!(pack.items[0].prompt_text, PROMPT_1_TEXT);
    assert_eq!(pack.items[0].prompt_sha256, PROMPT_1_SHA256);
    assert_eq!(prompt_sha256(PROMPT_1_TEXT), PROMPT_1_SHA256);
    assert_eq!(
        hex::encode(Sha256::digest(PROMPT_1_TEXT.as_bytes())),
        PROMPT_1_SHA256
    );
}

#[test]
fn the_bundle_verifies_and_its_digest_is_the_hash_of_its_canonical_json() {
    let value: Value = serde_json::from_str(BUNDLE_JSON).unwrap();
    let envelope: Envelope = serde_json::from_value(value["envelope"].clone()).unwrap();
    assert_eq!(envelope, pack().sign(&signer()));
    let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let verified = verify_bundle(BUNDLE_JSON.as_bytes(), &ring(), now).unwrap();
    assert_eq!(verified.pack, pack());
    assert_eq!(verified.captures.len(), 1);
    assert_eq!(verified.captures[0].chunks[1].offset, 11);
    assert_eq!(verified.digest, BUNDLE_DIGEST);

    let canonical = canonical(&value);
    assert_eq!(canonical, BUNDLE_CANONICAL);
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        ),
        BUNDLE_DIGEST
    );
    let again = verify_bundle(BUNDLE_CANONICAL.as_bytes(), &ring(), now).unwrap();
    assert_eq!(again.digest, BUNDLE_DIGEST, "formatting does not matter");
}

#[test]
fn the_vectors_pass_the_published_schemas() {
    let check = |schema: Value, instance: &str| {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let instance: Value = serde_json::from_str(instance).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    };
    check(evalboard_harness::capture_bundle_schema(), BUNDLE_JSON);
    check(evalboard_harness::capture_bundle_schema(), BUNDLE_CANONICAL);
    check(evalboard_harness::pack_payload_schema(), PAYLOAD_JSON);
}

#[test]
fn every_vector_appears_verbatim_in_the_format_document() {
    for (name, value) in [
        ("SEED_HEX", SEED_HEX),
        ("PUBLIC_KEY_HEX", PUBLIC_KEY_HEX),
        ("PUBLIC_KEY_BASE64", PUBLIC_KEY_BASE64),
        ("KEY_ID", KEY_ID),
        ("PACK_ID", PACK_ID),
        ("DATASET_DIGEST", DATASET_DIGEST),
        ("PAYLOAD_JSON", PAYLOAD_JSON),
        ("PAYLOAD_LENGTH", PAYLOAD_LENGTH),
        ("PAE_TEXT", PAE_TEXT),
        ("PAE_SHA256", PAE_SHA256),
        ("PAYLOAD_BASE64", PAYLOAD_BASE64),
        ("SIGNATURE_BASE64", SIGNATURE_BASE64),
        ("ENVELOPE_JSON", ENVELOPE_JSON),
        ("PROMPT_1_TEXT", PROMPT_1_TEXT),
        ("PROMPT_1_SHA256", PROMPT_1_SHA256),
        ("BUNDLE_JSON", BUNDLE_JSON),
        ("BUNDLE_CANONICAL", BUNDLE_CANONICAL),
        ("BUNDLE_DIGEST", BUNDLE_DIGEST),
        ("PACK_PAYLOAD_TYPE", PACK_PAYLOAD_TYPE),
        ("PROMPT_TEMPLATE", PROMPT_TEMPLATE),
    ] {
        assert!(
            DOC.contains(value),
            "docs/harness-format.md does not show {name} as the code computes it:\n{value}"
        );
    }
}

#[test]
fn the_documented_limits_are_the_code_limits() {
    let limits = [
        ("MAX_PACK_ITEMS", MAX_PACK_ITEMS as i64),
        ("MAX_REPORTED_PROBLEMS", MAX_REPORTED_PROBLEMS as i64),
        ("MAX_RESPONSE_BYTES", limits::MAX_RESPONSE_BYTES as i64),
        ("MAX_CHUNKS", limits::MAX_CHUNKS as i64),
        ("MAX_PAGE_ENTRIES", limits::MAX_PAGE_ENTRIES as i64),
        ("MAX_PAGE_KEY_CHARS", limits::MAX_PAGE_KEY_CHARS as i64),
        ("MAX_PAGE_VALUE_BYTES", limits::MAX_PAGE_VALUE_BYTES as i64),
        (
            "MAX_HARNESS_NAME_CHARS",
            limits::MAX_HARNESS_NAME_CHARS as i64,
        ),
        ("MAX_USER_AGENT_CHARS", limits::MAX_USER_AGENT_CHARS as i64),
        ("CLOCK_SKEW_SECS", limits::CLOCK_SKEW_SECS),
        (
            "MAX_READING_BYTES_PER_BYTE",
            limits::MAX_READING_BYTES_PER_BYTE as i64,
        ),
    ];
    for (name, value) in limits {
        let row = format!("| `{name}` | {value} |");
        assert!(
            DOC.contains(&row),
            "docs/harness-format.md's limits table lacks the row `{row}`"
        );
    }
    assert!(DOC.contains(&format!("`\"algorithm\": \"{ALGORITHM}\"`")));
}

/// A bundle of a pack issued with the previous template, `mmlu-pro-cot-v1` (its prompts lack the
/// official closing `\n\n`): the vectors of `docs/harness-format.md` before 2026-12, kept here.
const V1_BUNDLE_JSON: &str = r#"{
  "envelope": {
    "payloadType": "application/vnd.evalboard.harness-pack.v1+json",
    "payload": "eyJwYWNrSWQiOiJwYWNrLTAwMDAtdGVzdC12ZWN0b3IiLCJpc3N1ZWRBdCI6IjIwMjYtMDEtMTVUMDk6MzA6MDBaIiwiZXhwaXJlc0F0IjoiMjAyNi0wMS0yMlQwOTozMDowMFoiLCJkYXRhc2V0Ijp7Im5hbWUiOiJ2ZWN0b3ItZGVtbyIsInZlcnNpb24iOjEsImRpZ2VzdCI6InNoYTI1NjpmYTFjYmNmNWMzNmVmYTQwMGVhZDM5ZWQ1MGQ5ZmMyMTZhYTk3MDU4MDAyYzA0ZTY5NTcxOTdjMWM3NzBlZDQ1In0sInRhcmdldCI6ImNoYXRncHQtd2ViIiwicHJvbXB0VGVtcGxhdGUiOiJtbWx1LXByby1jb3QtdjEiLCJpdGVtcyI6W3sic2VxdWVuY2UiOjEsImRhdGFzZXRJdGVtSWQiOiJxMSIsInByb21wdFRleHQiOiJUaGUgZm9sbG93aW5nIGFyZSBtdWx0aXBsZSBjaG9pY2UgcXVlc3Rpb25zICh3aXRoIGFuc3dlcnMpIGFib3V0IG1hdGguIFRoaW5rIHN0ZXAgYnkgc3RlcCBhbmQgdGhlbiBvdXRwdXQgdGhlIGFuc3dlciBpbiB0aGUgZm9ybWF0IG9mIFwiVGhlIGFuc3dlciBpcyAoWClcIiBhdCB0aGUgZW5kLlxuXG5RdWVzdGlvbjogV2hhdCBpcyA2IMOXIDc/XG5PcHRpb25zOiBBLiA0MlxuQi4gNDhcbkMuIDY3XG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC4iLCJjaG9pY2VzIjpbIjQyIiwiNDgiLCI2NyJdLCJwcm9tcHRTaGEyNTYiOiI1ODdhYWUxNmI0MDFjZWI0NzQ1MDU3ZGZiMGI3MDE3MDZhMDAyODJlZTNmY2NhZjUxNWEzMjkzZDgyNzQ1MWY0In0seyJzZXF1ZW5jZSI6MiwiZGF0YXNldEl0ZW1JZCI6InEyIiwicHJvbXB0VGV4dCI6IlRoZSBmb2xsb3dpbmcgYXJlIG11bHRpcGxlIGNob2ljZSBxdWVzdGlvbnMgKHdpdGggYW5zd2VycykgYWJvdXQgcGh5c2ljcy4gVGhpbmsgc3RlcCBieSBzdGVwIGFuZCB0aGVuIG91dHB1dCB0aGUgYW5zd2VyIGluIHRoZSBmb3JtYXQgb2YgXCJUaGUgYW5zd2VyIGlzIChYKVwiIGF0IHRoZSBlbmQuXG5cblF1ZXN0aW9uOiBXaGljaCB1bml0IG1lYXN1cmVzIGZvcmNlP1xuT3B0aW9uczogQS4gam91bGVcbkIuIG5ld3RvblxuQy4gd2F0dFxuRC4gcGFzY2FsXG5BbnN3ZXI6IExldCdzIHRoaW5rIHN0ZXAgYnkgc3RlcC4iLCJjaG9pY2VzIjpbImpvdWxlIiwibmV3dG9uIiwid2F0dCIsInBhc2NhbCJdLCJwcm9tcHRTaGEyNTYiOiI5MTQ1NTMxZTM1ZGJhNThmOGYxM2VmYzA0MDYwMzEyMTdkOTRmYjI5NTY2YjJjYjZmYjEzOTZmMjdkMWFjMDQyIn1dfQ==",
    "signatures": [
      {
        "keyid": "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9",
        "sig": "6JdwchBo/jNL0j6obXhoOLnSvETq0tTiJhMPIACB97zUaquSxLxo7OBA4CSO/iuoJIAfE68iGKBDgyO9sxTJCg=="
      }
    ]
  },
  "harness": {
    "name": "example-harness",
    "version": "0.1.0",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
  },
  "captures": [
    {
      "sequence": 1,
      "promptSha256": "587aae16b401ceb4745057dfb0b701706a00282ee3fccaf515a3293d827451f4",
      "responseText": "6 × 7 = 42. The answer is (A).",
      "startedAt": "2026-01-15T10:00:00.000Z",
      "finishedAt": "2026-01-15T10:00:03.250Z",
      "chunks": [
        {"offset": 0, "text": "6 × 7 = 42.", "at": "2026-01-15T10:00:01.500Z"},
        {"offset": 11, "text": " The answer is (A).", "at": "2026-01-15T10:00:03.100Z"}
      ],
      "page": {"url": "https://chat.example/c/42", "title": "Multiplication"}
    }
  ]
}"#;

#[test]
fn a_pack_of_the_previous_template_still_verifies() {
    let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
    let verified = verify_bundle(V1_BUNDLE_JSON.as_bytes(), &ring(), now).unwrap();
    assert_eq!(verified.pack.prompt_template, "mmlu-pro-cot-v1");
    assert_ne!(verified.pack.prompt_template, PROMPT_TEMPLATE);
    let prompt = &verified.pack.items[0].prompt_text;
    assert!(
        prompt.ends_with("Answer: Let's think step by step."),
        "{prompt:?}"
    );
    assert_eq!(verified.pack.items[0].prompt_sha256, prompt_sha256(prompt));
    assert_eq!(verified.captures.len(), 1);
}
