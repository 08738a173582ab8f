//! Writes the seed corpus `fuzz/seeds/<target>/*`: a few valid inputs per
//! target, made with Kith's own encoders and the fixed keys of
//! `kith_fuzz::fixture` (so signed seeds verify in the harnesses).
//!
//! Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --no-default-features --features seedgen --bin gen_seeds`
//! (Automerge stamps changes with the wall clock, so documents and changes
//! differ from run to run; everything else is deterministic.)

use std::{fs, path::PathBuf};

use kith_crdt::{
    Doc, DocKind, ParsedChange, feed, friends,
    guard::craft,
    identity::{self, Link, Revocation},
    profile,
};
use kith_fuzz::{IntoBytes as _, NOW, fixture};
use kith_keys::{DeviceCert, DeviceKey, sign::Context};
use kith_protocol::{
    bridge, friend,
    hello::Hello,
    pairing::{self, PairRequest, PairResponse},
    recovery,
    records::{self, Claim, IdentifierKind, SignedRecord},
    sync::{
        Announcement, ChangeBatch, ChangeSignatures, CheckGroup, PullItem, PullOutcome, PullResult,
        SyncRequest, SyncResponse, change_payload, heads_digest,
    },
    ticket::{Ticket, TicketKind},
};

struct Seeds {
    root: PathBuf,
    count: usize,
}

impl Seeds {
    fn put(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create seed dir");
        fs::write(dir.join(name), bytes.as_ref()).expect("write seed");
        self.count += 1;
    }
}

fn cbor<T: serde::Serialize>(value: &T) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::new(), value).expect("CBOR of plain data")
}

/// Commit the pending edit of `doc`, sign it as its owner's fixed device
/// for `kind`, and add it to `batch`.
fn commit_signed(doc: &mut Doc, kind: DocKind, batch: &mut ChangeBatch) -> ParsedChange {
    let f = fixture();
    let change = doc.commit().expect("an edit to commit");
    let signature = f.device.sign(
        Context::DocumentChange,
        &change_payload(&f.owner_id, kind, &change.hash),
    );
    batch.push(change.bytes.clone(), signature, &f.cert);
    change
}

/// A whole document's snapshot with its heads signed by the fixed device.
fn signed_snapshot(doc: &mut Doc, kind: DocKind) -> (Vec<u8>, ChangeSignatures) {
    let f = fixture();
    let genesis = kith_crdt::genesis_hash();
    let mut signed = ChangeSignatures::default();
    for head in doc.heads().into_iter().filter(|h| *h != genesis) {
        let signature = f.device.sign(
            Context::DocumentChange,
            &change_payload(&f.owner_id, kind, &head),
        );
        signed.push(head, signature, &f.cert);
    }
    (doc.snapshot().into_bytes(), signed)
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let mut s = Seeds { root, count: 0 };
    let f = fixture();

    // ticket
    let mut ticket = Ticket {
        kind: TicketKind::Friend,
        account: f.owner_id,
        device: f.device_id,
        expires_at: NOW + 3600,
        secret: [0x55; 32],
        // /ip4/127.0.0.1/tcp/4001 and /ip6/::1/udp/4001/quic-v1
        addrs: vec![
            vec![0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1],
            [vec![0x29], vec![0; 15], vec![1], vec![0x91, 0x02, 0x0f, 0xa1, 0xcc, 0x03]].concat(),
        ],
    };
    s.put("ticket", "friend", ticket.to_text());
    ticket.addrs.clear();
    s.put("ticket", "friend-no-addrs", ticket.to_text());
    ticket.kind = TicketKind::Pairing;
    ticket.addrs = vec![vec![0x04, 192, 0, 2, 1, 0x06, 0x0f, 0xa1]];
    s.put("ticket", "pairing", ticket.to_text());

    // cert
    s.put("cert", "cert", f.cert.to_bytes());
    s.put("cert", "peer-cert", f.peer_cert.to_bytes());
    s.put("cert", "account-id", f.owner_id.to_string());
    s.put("cert", "device-id", f.device_id.to_string());

    // hello
    s.put("hello", "hello", cbor(&Hello::new(f.cert.clone(), "kith/0.1.0")));
    s.put("hello", "hello-peer", cbor(&Hello::new(f.peer_cert.clone(), "kith/fuzz")));

    // handshake: envelopes from the peer to the owner, and bare bodies.
    let request = friend::Body {
        from: f.peer_id,
        to: f.owner_id,
        at: NOW,
        nonce: [1; 16],
        action: friend::Action::Request {
            name: "Peer".into(),
            message: "hello there".into(),
            invite: Some([0x55; 32]),
        },
    };
    let seal = |body: &friend::Body| {
        friend::Signed::seal(body, f.peer_cert.clone(), |b| {
            f.peer_device.sign(Context::FriendHandshake, b)
        })
    };
    let request_msg = seal(&request);
    s.put("handshake", "request", request_msg.to_bytes());
    s.put("handshake", "request-body", friend::encode(&request));
    let actions = [
        (
            "accept",
            friend::Action::Accept {
                request: request_msg.hash(),
                name: "Peer".into(),
            },
        ),
        (
            "decline",
            friend::Action::Decline {
                request: request_msg.hash(),
            },
        ),
        ("remove", friend::Action::Remove),
    ];
    for (i, (name, action)) in actions.into_iter().enumerate() {
        let body = friend::Body {
            nonce: [i as u8 + 2; 16],
            action,
            ..request.clone()
        };
        s.put("handshake", name, seal(&body).to_bytes());
        s.put("handshake", &format!("{name}-body"), friend::encode(&body));
    }
    s.put(
        "handshake",
        "reply-accepted",
        cbor(&friend::Reply::Accepted {
            accept: Box::new(request_msg.clone()),
        }),
    );
    s.put("handshake", "reply-received", cbor(&friend::Reply::Received));
    s.put(
        "handshake",
        "reply-refused",
        cbor(&friend::Reply::Refused {
            code: "replay".into(),
        }),
    );

    // Documents and changes, by the owner's fixed device.
    let mut profile_batch = ChangeBatch::default();
    let mut profile_doc = Doc::new(&f.device_id);
    profile::set(&mut profile_doc, "name", "Ada").expect("set");
    let first = commit_signed(&mut profile_doc, DocKind::Profile, &mut profile_batch);
    profile::set(&mut profile_doc, "bio", "engineer, ünïcödé").expect("set");
    profile::set(&mut profile_doc, "city", "London").expect("set");
    let second = commit_signed(&mut profile_doc, DocKind::Profile, &mut profile_batch);
    profile::unset(&mut profile_doc, "city").expect("unset");
    commit_signed(&mut profile_doc, DocKind::Profile, &mut profile_batch);

    let mut feed_batch = ChangeBatch::default();
    let mut feed_doc = Doc::new(&f.device_id);
    for i in 0..3u64 {
        feed::add(
            &mut feed_doc,
            &feed::Post {
                id: format!("post-{i}"),
                text: format!("post number {i}"),
                at: NOW + i,
                device: f.device_id,
            },
        )
        .expect("add post");
        commit_signed(&mut feed_doc, DocKind::Feed, &mut feed_batch);
    }

    let mut identity_doc = Doc::new(&f.device_id);
    let mut identity_batch = ChangeBatch::default();
    identity::add_device(&mut identity_doc, &f.cert).expect("add device");
    let second_device = DeviceKey::from_seed(&[0x66; 32]);
    let second_cert = DeviceCert::issue(&f.owner, second_device.id(), "old phone", 1)
        .expect("a short name is valid");
    identity::add_device(&mut identity_doc, &second_cert).expect("add device");
    let link_payload = bridge::link_payload(&f.owner_id, "mastodon", "@ada@example.social");
    identity::add_link(
        &mut identity_doc,
        &Link {
            platform: "mastodon".into(),
            handle: "@ada@example.social".into(),
            proof: "https://example.social/@ada/1".into(),
            added_at: NOW,
            signature: Some(f.owner.sign(Context::LinkProof, &link_payload).to_bytes()),
        },
    )
    .expect("add link");
    commit_signed(&mut identity_doc, DocKind::Identity, &mut identity_batch);
    let revocation = Revocation::issue(&f.owner, second_device.id(), NOW, [1, 2, 0, 0, 3, 0]);
    s.put("cert", "revocation", revocation.to_bytes());
    identity::add_revocation(&mut identity_doc, &revocation).expect("add revocation");
    commit_signed(&mut identity_doc, DocKind::Identity, &mut identity_batch);

    let mut friends_doc = Doc::new(&f.device_id);
    let mut friends_batch = ChangeBatch::default();
    friends::add(
        &mut friends_doc,
        &friends::Friend {
            account: f.peer_id,
            name: "Peer".into(),
            since: NOW,
        },
    )
    .expect("add friend");
    commit_signed(&mut friends_doc, DocKind::Friends, &mut friends_batch);

    // document
    let mut genesis_doc = Doc::new(&f.device_id);
    s.put("document", "genesis", genesis_doc.snapshot().into_bytes());
    let (profile_bytes, profile_sigs) = signed_snapshot(&mut profile_doc, DocKind::Profile);
    s.put("document", "profile", &profile_bytes);
    let (feed_bytes, feed_sigs) = signed_snapshot(&mut feed_doc, DocKind::Feed);
    s.put("document", "feed", &feed_bytes);
    s.put(
        "document",
        "identity",
        identity_doc.snapshot().into_bytes(),
    );
    s.put("document", "friends", friends_doc.snapshot().into_bytes());
    let heads = profile_doc.heads();
    s.put("document", "craft-inflating", craft::inflating_document(4096, &heads));
    s.put("document", "craft-rows", craft::rows_document(64));
    s.put("document", "craft-graph", craft::graph_document(8, 8));

    // change
    s.put("change", "profile-first", &first.bytes);
    s.put("change", "profile-second", &second.bytes);
    s.put("change", "feed-post", &feed_batch.changes[0].bytes);
    s.put("change", "identity", &identity_batch.changes[0].bytes);
    s.put("change", "friends", &friends_batch.changes[0].bytes);
    s.put("change", "craft-rows", craft::rows_change(f.device_id.as_bytes(), 16));
    s.put("change", "batch-profile", cbor(&profile_batch));
    s.put("change", "batch-identity", cbor(&identity_batch));

    // sync_messages
    let group = CheckGroup {
        owner: f.owner_id,
        docs: vec![
            (DocKind::Profile, heads_digest(&profile_doc.heads())),
            (DocKind::Feed, heads_digest(&feed_doc.heads())),
        ],
    };
    s.put("sync_messages", "check-group", group.to_bytes());
    s.put(
        "sync_messages",
        "request-check",
        cbor(&SyncRequest::Check(vec![group])),
    );
    s.put(
        "sync_messages",
        "request-pull",
        cbor(&SyncRequest::Pull(vec![PullItem {
            owner: f.owner_id,
            doc: DocKind::Profile,
            heads: vec![first.hash],
            since: vec![],
        }])),
    );
    s.put(
        "sync_messages",
        "response-changes",
        cbor(&SyncResponse::Pull(vec![
            PullResult {
                owner: f.owner_id,
                doc: DocKind::Profile,
                outcome: PullOutcome::Changes {
                    heads: profile_doc.heads(),
                    batch: profile_batch.clone(),
                    more: false,
                },
            },
            PullResult {
                owner: f.owner_id,
                doc: DocKind::FeedPrivate,
                outcome: PullOutcome::Denied,
            },
            PullResult {
                owner: f.peer_id,
                doc: DocKind::Friends,
                outcome: PullOutcome::Unknown,
            },
        ])),
    );
    s.put(
        "sync_messages",
        "response-document",
        cbor(&SyncResponse::Pull(vec![
            PullResult {
                owner: f.owner_id,
                doc: DocKind::Profile,
                outcome: PullOutcome::Document {
                    doc: profile_bytes.clone(),
                    signed: profile_sigs,
                },
            },
            PullResult {
                owner: f.owner_id,
                doc: DocKind::Feed,
                outcome: PullOutcome::Document {
                    doc: feed_bytes.clone(),
                    signed: feed_sigs,
                },
            },
        ])),
    );
    s.put(
        "sync_messages",
        "response-check",
        cbor(&SyncResponse::Check(vec![0b101, 0])),
    );
    s.put("sync_messages", "response-busy", cbor(&SyncResponse::Busy));

    // announcement
    let sign_announcement = |b: &[u8]| f.device.sign(Context::Announcement, b);
    let plain = Announcement {
        owner: f.owner_id,
        doc: DocKind::Profile,
        heads: profile_doc.heads(),
        by: *f.device_id.as_bytes(),
        changes: None,
    };
    s.put("announcement", "heads-only", plain.seal(sign_announcement));
    s.put("announcement", "heads-only-body", cbor(&plain));
    let inline = Announcement {
        doc: DocKind::Feed,
        heads: feed_doc.heads(),
        changes: Some(feed_batch.clone()),
        ..plain.clone()
    };
    s.put("announcement", "inline-changes", inline.seal(sign_announcement));
    s.put("announcement", "inline-changes-body", cbor(&inline));

    // records
    let addresses = records::Body {
        cert: f.cert.clone(),
        at: NOW,
        claim: Claim::Addresses {
            addrs: vec![vec![0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]],
        },
    };
    let sign_record = |b: &[u8]| f.device.sign(Context::DeviceRecord, b);
    s.put(
        "records",
        "addresses",
        SignedRecord::seal(&addresses, sign_record).to_bytes(),
    );
    s.put("records", "addresses-body", cbor(&addresses));
    let newer = records::Body {
        at: NOW + 10,
        ..addresses.clone()
    };
    let peer_addresses = records::Body {
        cert: f.peer_cert.clone(),
        ..addresses.clone()
    };
    s.put(
        "records",
        "record-set",
        records::RecordSet {
            records: vec![
                SignedRecord::seal(&newer, sign_record),
                SignedRecord::seal(&peer_addresses, |b| {
                    f.peer_device.sign(Context::DeviceRecord, b)
                }),
            ],
        }
        .to_bytes(),
    );
    let email = IdentifierKind::Email
        .normalise(" Ada@Example.org ")
        .expect("a valid email");
    let discoverable = records::Body {
        claim: Claim::Discoverable {
            id: records::identifier_hash("email", &email),
        },
        ..addresses.clone()
    };
    s.put(
        "records",
        "discoverable",
        SignedRecord::seal(&discoverable, sign_record).to_bytes(),
    );
    s.put("records", "discoverable-body", cbor(&discoverable));
    s.put("records", "email-text", " Ada@Example.org ");
    s.put("records", "phone-text", "0049 (151) 123-45678");

    // pairing
    let transcript = pairing::transcript(&f.owner_id, &f.device_id, &f.peer_device_id);
    s.put(
        "pairing",
        "request",
        cbor(&PairRequest {
            account: f.owner_id,
            device_name: "new laptop".into(),
            proof: pairing::proof(&[0x55; 32], &transcript),
        }),
    );
    s.put(
        "pairing",
        "response-linked",
        cbor(&PairResponse::Linked {
            cert: f.cert.clone(),
            account_seed: Some([0x11; 32]),
        }),
    );
    s.put(
        "pairing",
        "response-refused",
        cbor(&PairResponse::Refused {
            code: "bad_proof".into(),
        }),
    );

    // recovery
    let shares = kith_keys::shares::split(&f.owner, 2, 2).expect("a valid split");
    let grant = |i: usize| {
        recovery::Grant::issue(&f.owner, f.peer_id, 7, 2, 2, shares[i].to_vec())
    };
    s.put("recovery", "hold", cbor(&recovery::Request::Hold { grant: grant(0) }));
    s.put(
        "recovery",
        "withdraw",
        cbor(&recovery::Request::Withdraw {
            withdrawal: recovery::Withdrawal::issue(&f.owner, f.peer_id, 7),
        }),
    );
    s.put("recovery", "ask", cbor(&recovery::Request::Ask { account: f.owner_id }));
    s.put("recovery", "share", cbor(&recovery::Reply::Share { grant: grant(1) }));
    s.put("recovery", "waiting", cbor(&recovery::Reply::Waiting));
    s.put("recovery", "stored", grant(0).to_bytes());

    // plugin_lines
    let json = |v: &serde_json::Value| serde_json::to_vec(v).expect("JSON");
    let lines: [(&str, serde_json::Value); 8] = [
        (
            "describe-answer",
            serde_json::to_value(bridge::Response::ok(
                1,
                serde_json::json!({"name": "webhook", "version": "0.1.0", "capabilities": ["publish", "verify_link"]}),
            ))
            .expect("JSON"),
        ),
        (
            "published-answer",
            serde_json::to_value(bridge::Response::ok(
                2,
                serde_json::json!({"remote_id": "abc", "url": "https://example.org/p/abc"}),
            ))
            .expect("JSON"),
        ),
        (
            "verified-answer",
            serde_json::to_value(bridge::Response::ok(
                3,
                serde_json::json!({"verified": false, "reason": "no statement"}),
            ))
            .expect("JSON"),
        ),
        (
            "error-answer",
            serde_json::to_value(bridge::Response::err(4, bridge::TRANSIENT, "try later"))
                .expect("JSON"),
        ),
        (
            "configure-request",
            serde_json::to_value(bridge::Request::new(
                5,
                "configure",
                serde_json::json!({"settings": {"url": "https://example.org/hook"}, "state_dir": "/tmp/x"}),
            ))
            .expect("JSON"),
        ),
        (
            "publish-request",
            serde_json::to_value(bridge::Request::new(
                6,
                "publish",
                serde_json::json!({"post": "p1", "text": "hi", "at": NOW, "account": f.owner_id.to_string()}),
            ))
            .expect("JSON"),
        ),
        (
            "update-profile-request",
            serde_json::to_value(bridge::Request::new(
                7,
                "update_profile",
                serde_json::json!({"display_name": "Ada", "bio": null}),
            ))
            .expect("JSON"),
        ),
        (
            "verify-link-request",
            serde_json::to_value(bridge::Request::new(
                8,
                "verify_link",
                serde_json::json!({"handle": "@ada@example.social", "proof": "https://example.social/@ada/1", "statement": "kith:..."}),
            ))
            .expect("JSON"),
        ),
    ];
    for (name, value) in &lines {
        let mut line = json(value);
        line.push(b'\n');
        s.put("plugin_lines", name, line);
    }

    // contacts
    s.put(
        "contacts",
        "vcard",
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada Lovelace\r\nEMAIL;TYPE=work:Ada@Example.org\r\n\
         TEL;TYPE=cell:+44 20 7946 0958\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\n\
         N:Babbage;Charles;;;\r\nFN:Charles\r\n Babbage\r\nitem1.EMAIL:cb@example.org\r\nEND:VCARD\r\n",
    );
    s.put(
        "contacts",
        "csv",
        "Name,E-mail Address,Mobile Phone\n\"Lovelace, Ada\",ada@example.org,+44 20 7946 0958\n\
         Charles Babbage,cb@example.org,\n",
    );

    // api_bodies
    let bodies: [(&str, serde_json::Value); 9] = [
        ("connect", serde_json::json!({"addr": "/ip4/127.0.0.1/tcp/4001"})),
        ("invite", serde_json::json!({"ttl_secs": 600})),
        ("add", serde_json::json!({"target": ticket.to_text(), "message": "hi"})),
        ("account", serde_json::json!({"account": f.owner_id.to_string()})),
        ("import", serde_json::json!({"content": "BEGIN:VCARD\nEMAIL:a@b.org\nEND:VCARD\n"})),
        ("set-field", serde_json::json!({"field": "bio", "value": "x", "visibility": "friends"})),
        ("link", serde_json::json!({"platform": "mastodon", "handle": "@a@b.org", "proof": null})),
        ("post", serde_json::json!({"text": "hello", "visibility": "public", "bridges": ["webhook"]})),
        ("bridge-add", serde_json::json!({"name": "hook", "plugin": "kith-bridge-webhook", "settings": {"url": "https://example.org"}})),
    ];
    for (name, value) in &bodies {
        s.put("api_bodies", name, json(value));
    }
    s.put(
        "api_bodies",
        "query",
        format!("account={}&platform=mastodon&handle=%40a%40b.org", f.owner_id),
    );

    println!("wrote {} seeds under {}", s.count, s.root.display());
}
