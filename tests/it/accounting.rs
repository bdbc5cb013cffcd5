//! Message accounting against loss on the wire: a fault proxy between impress and a managed
//! Prosody drops every third chat message the server delivers. The report must count
//! exactly those messages lost, name exactly their ids, and count the rest delivered.

use crate::common::{report, root, text};
use impress::fault::{DropRule, Proxy, ProxyConfig};
use impress::target::{ManagedServer, ManagedSpec, ServerKind};
use std::collections::BTreeSet;
use std::process::Command;

const PASSWORD: &str = "accounting-pw-1";
const USERS: usize = 6;
const PER_USER: usize = 5;

const SUITE: &str = r#"
name = "accounting under loss"
checks = ["xmpp/rfc6121/8.5.3.1-full-jid-only"]
[timeouts]
response = "5s"
delivery = "3s"
[[fleet]]
name = "f"
protocol = "xmpp"
users = 6
account = "acct{n}"
[[step]]
do = "login"
[[step]]
do = "message"
to = "partner.full"
count = 5
[[step]]
do = "logout"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_messages_are_counted_lost_exactly() {
    let server = ManagedServer::start(&ManagedSpec::new(ServerKind::Prosody))
        .await
        .expect("start prosody");
    server
        .provision("acct", USERS, PASSWORD)
        .await
        .expect("provision");
    let cfg = ProxyConfig::new(server.addr()).with_xmpp_filter(Some(DropRule::EveryNth(3)));
    let proxy = Proxy::start(cfg).await.expect("proxy");

    let dir = tempfile::tempdir().expect("temp dir");
    let (suite, target, pw) = (
        dir.path().join("suite.toml"),
        dir.path().join("target.toml"),
        dir.path().join("password"),
    );
    std::fs::write(&suite, SUITE).expect("suite");
    std::fs::write(&pw, PASSWORD).expect("password file");
    let t = format!(
        "name = \"prosody behind a lossy proxy\"\ndomain = \"{}\"\n[[node]]\n\
         host = \"127.0.0.1\"\nport = {}\n[tls]\nmode = \"plaintext\"\nallow_plain = true\n\
         [accounts]\npattern = \"acct{{n}}\"\npassword_file = \"{}\"\n",
        server.domain(),
        proxy.addr().port(),
        pw.display()
    );
    std::fs::write(&target, t).expect("target");
    let out_dir = dir.path().join("report");
    let args = (suite.clone(), target.clone(), out_dir.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_impress"))
            .arg("run")
            .arg(&args.0)
            .arg("--target")
            .arg(&args.1)
            .arg("--out")
            .arg(&args.2)
            .current_dir(root())
            .output()
            .expect("impress runs")
    })
    .await
    .expect("join");
    let stats = proxy.stats();
    proxy.stop().await;
    server.stop().await.expect("stop prosody");

    let msg = text(&out);
    let dropped = stats.messages_dropped;
    eprintln!(
        "proxy saw {} messages, dropped {dropped}",
        stats.messages_seen
    );
    assert_eq!(dropped, (USERS * PER_USER / 3) as u64, "{stats:?}\n{msg}");
    assert_eq!(out.status.code(), Some(1), "losses fail the run: {msg}");
    let r = report(&out_dir);
    let acc = &r.accounting;
    assert_eq!(acc.total.sent, (USERS * PER_USER) as u64, "{msg}");
    assert_eq!(acc.total.lost, dropped, "{acc:?}");
    assert_eq!(acc.total.delivered, acc.total.sent - dropped, "{acc:?}");
    assert_eq!((acc.total.duplicated, acc.total.reordered), (0, 0));
    let lost: BTreeSet<&str> = acc.lost.iter().map(|l| l.id.as_str()).collect();
    let on_wire: BTreeSet<&str> = stats.dropped_ids().into_iter().collect();
    assert_eq!(lost, on_wire, "the report names exactly the dropped ids");
    let per_recipient: u64 = acc.recipients.values().map(|r| r.lost).sum();
    assert_eq!(per_recipient, dropped);
}
