//! The web page in real headless Chromium against real daemons: login,
//! every flow a person uses, and attacks from other origins.

use std::{
    io::{Read as _, Write as _},
    net::TcpListener,
    time::Duration,
};

use crate::{
    browser::Browser,
    util::{DaemonProcess, TestHome, http, wait_for},
};

/// A home with a running daemon, and a login link to its page.
struct Person {
    home: TestHome,
    daemon: DaemonProcess,
    account: String,
}

impl Person {
    fn start() -> Person {
        let home = TestHome::new();
        let account = home.init()["account"]
            .as_str()
            .expect("account")
            .to_string();
        let daemon = home.start_daemon();
        Person {
            home,
            daemon,
            account,
        }
    }

    fn login_link(&self) -> String {
        let answer = self.home.json(&["open", "--no-browser", "--json"]);
        answer["url"].as_str().expect("url").to_string()
    }

    /// A browser logged in to this person's page.
    async fn open_page(&self) -> Browser {
        let browser = Browser::start(&[]).await;
        browser.go(&self.login_link()).await;
        let shown = browser
            .until(|b| async move {
                b.text("[data-testid=account-id]")
                    .await
                    .contains(&self.account)
            })
            .await;
        assert!(shown, "the page does not show the account after login");
        browser
    }

    fn field(&self, account: &str, name: &str) -> serde_json::Value {
        self.home.json(&["profile", "show", account, "--json"])["fields"][name].clone()
    }

    fn feed_has(&self, text: &str) -> bool {
        self.home.json(&["feed", "--all", "--json"])["posts"]
            .as_array()
            .is_some_and(|posts| posts.iter().any(|p| p["text"] == text))
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Where to save screenshots of each screen, if asked (`KITH_SCREENSHOTS=DIR`).
fn screenshot_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("KITH_SCREENSHOTS").map(Into::into)
}

#[test]
fn a_login_link_works_once_and_nothing_shows_without_one() {
    let alice = Person::start();
    runtime().block_on(async {
        let link = alice.login_link();
        assert!(link.contains("/login?code="), "{link}");
        let browser = Browser::start(&[]).await;
        browser.go(&link).await;
        let account = alice.account.clone();
        assert!(
            browser
                .until(|b| {
                    let account = account.clone();
                    async move { b.text("[data-testid=account-id]").await.contains(&account) }
                })
                .await
        );
        let url = browser.client.current_url().await.expect("url");
        assert_eq!(url.path(), "/", "the code left the address bar");
        assert!(url.query().is_none(), "{url}");
        let cookies = browser.client.get_all_cookies().await.expect("cookies");
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        assert_eq!(cookies[0].http_only(), Some(true));
        assert_eq!(
            cookies[0].same_site().map(|s| s.to_string()).as_deref(),
            Some("Strict")
        );
        browser.close().await;

        // The same link again, in another browser: refused, no account shown.
        let other = Browser::start(&[]).await;
        other.go(&link).await;
        assert!(!other.text("body").await.contains(&alice.account));
        assert!(other.find("[data-testid=account-id]").await.is_none());
        other.go(&format!("http://{}/", alice.daemon.api())).await;
        assert!(!other.text("body").await.contains(&alice.account));
        other.close().await;
    });

    // Without a session or token, the API gives nothing; a made-up
    // session cookie is no session; the CLI's token still works.
    let api = alice.daemon.api();
    let port = api.rsplit(':').next().expect("port");
    let cookie = format!("kith_session_{port}=00");
    let (status, _) = http(&api, "GET", "/v1/status", &[("Cookie", &cookie)], "");
    assert_eq!(status, 401);
    let (status, page) = http(&api, "GET", "/", &[], "");
    assert_eq!(status, 401);
    assert!(!page.contains(&alice.account));
    assert!(alice.home.kith(&["status"]).status.success());
}

#[test]
fn two_people_befriend_edit_and_post_from_their_pages_live() {
    let (alice, bob) = (Person::start(), Person::start());
    let out = bob.home.kith(&["connect", &alice.daemon.addr()]);
    assert!(out.status.success());
    runtime().block_on(async {
        let (pa, pb) = (alice.open_page().await, bob.open_page().await);

        // Alice invites from her page; the QR on screen holds the ticket.
        pa.wait_find("[data-testid=friend-invite]")
            .await
            .click()
            .await
            .expect("click invite");
        assert!(
            pa.until(|b| async move {
                b.text("[data-testid=friend-ticket]")
                    .await
                    .trim()
                    .starts_with("kithfriend1")
            })
            .await
        );
        let ticket = pa.text("[data-testid=friend-ticket]").await.trim().to_string();
        assert_eq!(pa.qr_text("[data-testid=friend-ticket-qr]").await, ticket);

        // Bob adds it from his page; each sees the other appear, live.
        pb.fill("[data-testid=friend-add-form]", "target", &ticket)
            .await;
        pb.submit("[data-testid=friend-add-form]").await;
        let (a, b) = (alice.account.clone(), bob.account.clone());
        assert!(
            pa.until(|p| {
                let b = b.clone();
                async move { p.text("[data-testid=friend-list]").await.contains(&b) }
            })
            .await,
            "Bob did not appear on Alice's page without a reload"
        );
        assert!(
            pb.until(|p| {
                let a = a.clone();
                async move { p.text("[data-testid=friend-list]").await.contains(&a) }
            })
            .await
        );

        // Alice edits her profile for friends only; Bob's node and page get it.
        let form = "[data-testid=profile-form]";
        pa.fill(form, "field", "motto").await;
        pa.fill(form, "value", "from-the-page").await;
        pa.fill(form, "visibility", "friends").await;
        pa.submit(form).await;
        assert!(wait_for(Duration::from_secs(30), || {
            alice.field(&alice.account, "motto")["value"] == "from-the-page"
        }));
        assert_eq!(alice.field(&alice.account, "motto")["visibility"], "friends");
        assert!(wait_for(Duration::from_secs(30), || {
            bob.field(&alice.account, "motto")["value"] == "from-the-page"
        }));

        // Posts both ways, each appearing on the other's page live.
        pa.fill("[data-testid=post-form]", "text", "posted-from-alices-page")
            .await;
        pa.submit("[data-testid=post-form]").await;
        assert!(wait_for(Duration::from_secs(30), || bob
            .feed_has("posted-from-alices-page")));
        assert!(
            pb.until(|p| async move {
                p.text("[data-testid=feed]")
                    .await
                    .contains("posted-from-alices-page")
            })
            .await,
            "Alice's post did not appear on Bob's page without a reload"
        );
        pb.fill("[data-testid=post-form]", "text", "hello-from-bobs-page")
            .await;
        pb.submit("[data-testid=post-form]").await;
        assert!(
            pa.until(|p| async move {
                p.text("[data-testid=feed]")
                    .await
                    .contains("hello-from-bobs-page")
            })
            .await
        );

        if let Some(dir) = screenshot_dir() {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            for (section, name) in [
                ("overview", "overview"),
                ("profile", "profile"),
                ("friends", "friends"),
                ("devices", "devices"),
                ("feed", "feed"),
                ("bridges", "bridges"),
            ] {
                let _ = pa
                    .client
                    .execute(
                        "const s = document.getElementById(arguments[0]); if (s) s.scrollIntoView();",
                        vec![section.into()],
                    )
                    .await;
                pa.save_screenshot(&dir.join(format!("web-{name}.png")))
                    .await;
            }
        }
        pa.close().await;
        pb.close().await;
    });
}

#[test]
fn a_device_links_from_the_qr_on_the_page() {
    let alice = Person::start();
    alice
        .home
        .json(&["profile", "set", "name", "Alice", "--json"]);
    runtime().block_on(async {
        let page = alice.open_page().await;
        page.wait_find("[data-testid=device-link]")
            .await
            .click()
            .await
            .expect("click link");
        assert!(
            page.until(|b| async move {
                !b.text("[data-testid=device-ticket]")
                    .await
                    .trim()
                    .is_empty()
            })
            .await
        );
        let ticket = page.qr_text("[data-testid=device-ticket-qr]").await;
        assert_eq!(
            ticket,
            page.text("[data-testid=device-ticket]").await.trim()
        );

        // The phone joins with what it scanned.
        let phone = TestHome::new();
        let joined = phone.json(&[
            "device",
            "join",
            &ticket,
            "--device-name",
            "phone",
            "--json",
        ]);
        let device = joined["device"].as_str().expect("device").to_string();
        assert!(
            page.until(
                |b| async move { !b.text("[data-testid=device-code]").await.trim().is_empty() }
            )
            .await,
            "the page shows no confirmation code"
        );
        let device_short = device.clone();
        assert!(
            page.until(|b| {
                let d = device_short.clone();
                async move { b.text("[data-testid=device-list]").await.contains(&d) }
            })
            .await,
            "the new device is not in the page's list"
        );
        let _phone_daemon = phone.start_daemon();
        let out = phone.kith(&["connect", &alice.daemon.addr()]);
        assert!(out.status.success());
        assert!(wait_for(Duration::from_secs(30), || {
            phone.json(&["profile", "show", &alice.account, "--json"])["fields"]["name"]["value"]
                == "Alice"
        }));
        page.close().await;
    });
}

/// A page on another origin (another port of 127.0.0.1, so the same
/// *site*, which SameSite does not separate) in the logged-in browser.
fn serve_attack_page(html: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn another_origin_reads_and_changes_nothing() {
    let alice = Person::start();
    let api = alice.daemon.api();
    let port = api.rsplit(':').next().expect("port").to_string();
    let attack = format!(
        r#"<html><body>
<form id="f" method="POST" action="http://{api}/v1/profile/set" enctype="text/plain">
<input name='{{"field":"pwned","value":"form","x":"' value='"}}'></form>
<img id="i" src="http://{api}/v1/status">
<iframe id="fr" src="http://{api}/"></iframe>
</body></html>"#
    );
    let other = serve_attack_page(attack);
    runtime().block_on(async {
        let browser = Browser::start(&["--host-resolver-rules=MAP rebind.test 127.0.0.1"]).await;
        browser.go(&alice.login_link()).await;
        let account = alice.account.clone();
        assert!(
            browser
                .until(|b| {
                    let a = account.clone();
                    async move { b.text("[data-testid=account-id]").await.contains(&a) }
                })
                .await
        );
        browser.go(&format!("http://127.0.0.1:{other}/")).await;
        let run = |script: String| {
            let client = browser.client.clone();
            async move {
                client
                    .execute_async(&script, vec![])
                    .await
                    .expect("script ran")
            }
        };
        // Read with credentials: refused (CORS, and the API says 403).
        let read = run(format!(
            "const done = arguments[arguments.length-1];
             fetch('http://{api}/v1/status', {{credentials:'include'}})
               .then(r => r.text()).then(t => done('read:' + t.slice(0, 60))).catch(() => done('blocked'))"
        ))
        .await;
        assert_eq!(read, "blocked");
        // Writes that need no preflight: a no-cors POST and a text/plain form.
        run(format!(
            "const done = arguments[arguments.length-1];
             fetch('http://{api}/v1/profile/set', {{method:'POST', credentials:'include', mode:'no-cors',
               headers:{{'Content-Type':'text/plain'}}, body: JSON.stringify({{field:'pwned', value:'fetch'}})}})
               .then(() => done(1)).catch(() => done(0))"
        ))
        .await;
        // The image loaded nothing usable; the frame was refused.
        let img = run(
            "const done = arguments[arguments.length-1]; const i = document.getElementById('i');
             if (i.complete) done(i.naturalWidth); else { i.onload = () => done(i.naturalWidth); i.onerror = () => done(-1); }"
                .into(),
        )
        .await;
        assert!(img.as_i64().unwrap_or(0) <= 0, "the API answered as an image: {img}");
        browser
            .client
            .execute("document.getElementById('f').submit()", vec![])
            .await
            .expect("submit the form");
        // The form navigates to the API's answer: a refusal.
        assert!(
            browser
                .until(|b| async move { b.text("body").await.contains("forbidden") })
                .await,
            "the form post got no refusal"
        );
        // A rebinding host name that resolves to 127.0.0.1.
        browser
            .go(&format!("http://rebind.test:{port}/v1/status"))
            .await;
        let body = browser.text("body").await;
        assert!(body.contains("forbidden_host"), "{body}");
        assert!(!body.contains(&alice.account));
        browser.go(&format!("http://rebind.test:{port}/")).await;
        assert!(!browser.text("body").await.contains(&alice.account));
        browser.close().await;
    });
    // Nothing changed.
    let (status, _) = http(&api, "GET", "/", &[], "");
    assert_eq!(status, 401);
    let fields = alice.home.json(&["profile", "show", "--json"])["fields"].clone();
    assert!(
        fields.get("pwned").is_none(),
        "a foreign page changed the profile: {fields}"
    );
    let log = alice.daemon.log();
    assert!(
        log.contains("forbidden_origin") || log.contains("forbidden_csrf"),
        "the API never refused the foreign page"
    );
}

/// Click the `data-action` button for one item inside `within`; the list
/// may be redrawn (live) between finding the button and clicking it, so a
/// click on a replaced element is tried again.
async fn act(page: &Browser, within: &str, action: &str, key: &str, value: &str) {
    let css = format!("[data-testid={within}] [data-action={action}][data-{key}=\"{value}\"]");
    let clicked = page
        .until(|p| {
            let css = css.clone();
            async move {
                match p.find(&css).await {
                    Some(button) => button.click().await.is_ok(),
                    None => false,
                }
            }
        })
        .await;
    assert!(clicked, "could not click {action} for {value}");
}

#[test]
fn requests_bridges_links_and_devices_from_the_page() {
    let (alice, bob, carol) = (Person::start(), Person::start(), Person::start());
    for other in [&bob, &carol] {
        assert!(
            other
                .home
                .kith(&["connect", &alice.daemon.addr()])
                .status
                .success()
        );
    }
    let atom = std::path::Path::new(crate::util::KITH).with_file_name("kith-bridge-atom");
    let feed_file = alice.home.path().join("feed.xml");
    runtime().block_on(async {
        let page = alice.open_page().await;

        // Incoming requests appear live; accept one, decline the other.
        bob.home.json(&[
            "friend",
            "add",
            &alice.account,
            "--message",
            "hi-from-bob",
            "--json",
        ]);
        carol.home.json(&[
            "friend",
            "add",
            &alice.account,
            "--message",
            "hi-from-carol",
            "--json",
        ]);
        assert!(
            page.until(|p| async move {
                let t = p.text("[data-testid=request-list]").await;
                t.contains("hi-from-bob") && t.contains("hi-from-carol")
            })
            .await,
            "the requests did not appear without a reload"
        );
        act(&page, "request-list", "accept", "account", &bob.account).await;
        act(&page, "request-list", "decline", "account", &carol.account).await;
        assert!(wait_for(Duration::from_secs(30), || {
            bob.home
                .json(&["friend", "list", "--json"])
                .to_string()
                .contains(&alice.account)
        }));
        assert!(wait_for(Duration::from_secs(30), || {
            alice.home.json(&["friend", "requests", "--json"])["incoming"]
                .as_array()
                .is_some_and(|rs| {
                    rs.iter()
                        .any(|r| r["account"] == carol.account.as_str() && r["state"] == "declined")
                })
        }));
        assert!(
            !alice
                .home
                .json(&["friend", "list", "--json"])
                .to_string()
                .contains(&carol.account)
        );

        // A platform link, added from the page.
        page.fill("[data-testid=link-form]", "platform", "mastodon")
            .await;
        page.fill("[data-testid=link-form]", "handle", "@alice@example.org")
            .await;
        page.submit("[data-testid=link-form]").await;
        assert!(wait_for(Duration::from_secs(30), || {
            alice
                .home
                .json(&["link", "list", "--json"])
                .to_string()
                .contains("@alice@example.org")
        }));

        // A bridge added from the page carries a post made on the page.
        let form = "[data-testid=bridge-form]";
        page.fill(form, "name", "feed").await;
        page.fill(form, "plugin", atom.to_str().expect("utf-8 path"))
            .await;
        page.fill(form, "settings", &format!("path={}", feed_file.display()))
            .await;
        page.submit(form).await;
        assert!(
            page.until(
                |p| async move { p.text("[data-testid=bridge-list]").await.contains("feed") }
            )
            .await,
            "the new bridge is not listed"
        );
        // The page ticks bridges for public posts once it has seen them.
        assert!(
            page.until(|p| async move {
                p.find("[data-testid=post-form] input[name=bridge]")
                    .await
                    .is_some()
            })
            .await
        );
        page.fill("[data-testid=post-form]", "text", "to-the-atom-feed")
            .await;
        page.submit("[data-testid=post-form]").await;
        assert!(wait_for(Duration::from_secs(30), || {
            std::fs::read_to_string(&feed_file).is_ok_and(|f| f.contains("to-the-atom-feed"))
        }));
        assert!(
            page.until(
                |p| async move { p.text("[data-testid=delivery]").await.contains("delivered") }
            )
            .await,
            "the page does not show the post delivered through the bridge"
        );
        act(&page, "bridge-list", "bridge-test", "name", "feed").await;
        act(&page, "bridge-list", "bridge-remove", "name", "feed").await;
        assert!(wait_for(Duration::from_secs(30), || {
            !alice
                .home
                .json(&["bridge", "list", "--json"])
                .to_string()
                .contains("\"feed\"")
        }));

        // A linked device revoked from the page (a two-step button).
        let ticket = alice.home.json(&["device", "link", "--json"])["ticket"]
            .as_str()
            .expect("ticket")
            .to_string();
        let phone = TestHome::new();
        let device = phone.json(&[
            "device",
            "join",
            &ticket,
            "--device-name",
            "phone",
            "--json",
        ])["device"]
            .as_str()
            .expect("device")
            .to_string();
        act(&page, "device-list", "revoke", "device", &device).await;
        act(&page, "device-list", "revoke", "device", &device).await;
        assert!(wait_for(Duration::from_secs(30), || {
            alice.home.json(&["device", "list", "--json"])["devices"]
                .as_array()
                .is_some_and(|ds| {
                    ds.iter()
                        .any(|d| d["device"] == device.as_str() && d["revoked"] == true)
                })
        }));

        // A field removed from the page.
        alice
            .home
            .json(&["profile", "set", "motto", "short-lived", "--json"]);
        act(&page, "profile-fields", "unset", "field", "motto").await;
        assert!(wait_for(Duration::from_secs(30), || {
            alice.field(&alice.account, "motto").is_null()
        }));
        page.close().await;
    });
}

#[test]
fn the_page_fits_a_phone_and_works_from_the_keyboard() {
    let alice = Person::start();
    runtime().block_on(async {
        let page = Browser::start(&["--window-size=360,800"]).await;
        page.go(&alice.login_link()).await;
        let account = alice.account.clone();
        assert!(
            page.until(|b| {
                let a = account.clone();
                async move { b.text("[data-testid=account-id]").await.contains(&a) }
            })
            .await
        );
        let overflow = page
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("measure");
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "the page scrolls sideways on a phone by {overflow} px"
        );
        // The invite button, reached and pressed from the keyboard.
        let invite = page.wait_find("[data-testid=friend-invite]").await;
        invite.send_keys("\u{E007}").await.expect("press Enter");
        assert!(
            page.until(|b| async move {
                b.text("[data-testid=friend-ticket]")
                    .await
                    .trim()
                    .starts_with("kithfriend1")
            })
            .await,
            "Enter on the invite button made no ticket"
        );
        page.close().await;
    });
}

#[test]
fn recovery_shares_are_given_and_approved_from_the_pages() {
    let (alice, bob) = (Person::start(), Person::start());
    assert!(
        bob.home
            .kith(&["connect", &alice.daemon.addr()])
            .status
            .success()
    );
    crate::util::befriend(&alice.home, &bob.home);
    let (a, b) = (alice.account.clone(), bob.account.clone());
    let fresh = TestHome::new();
    runtime().block_on(async {
        // Alice gives Bob a share from her page.
        let pa = alice.open_page().await;
        let choice = format!("[data-testid=recovery-setup-form] input[value='{b}']");
        pa.wait_find(&choice)
            .await
            .click()
            .await
            .expect("choose Bob");
        pa.fill("[data-testid=recovery-setup-form]", "threshold", "1")
            .await;
        pa.submit("[data-testid=recovery-setup-form]").await;
        assert!(
            pa.until(|p| async move {
                p.text("[data-testid=recovery-holders]")
                    .await
                    .contains("holds a share")
            })
            .await,
            "Alice's page never showed Bob holding his share"
        );
        pa.close().await;
    });
    // Alice loses her only device; a new one asks Bob.
    let Person { home, daemon, .. } = alice;
    daemon.kill_hard();
    drop(home);
    let code = fresh.json(&["recover", "--account", &a, "--friends", "--json"])["code"]
        .as_str()
        .expect("code")
        .to_string();
    let _recovering = fresh.start_daemon();
    assert!(
        fresh
            .kith(&["connect", &bob.daemon.addr()])
            .status
            .success()
    );
    runtime().block_on(async {
        // Bob's page shows the request live and takes the code Alice reads out.
        let pb = bob.open_page().await;
        assert!(
            pb.until(|p| {
                let a = a.clone();
                async move { p.text("[data-testid=recovery-requests]").await.contains(&a) }
            })
            .await,
            "the request never showed on Bob's page"
        );
        let form = "[data-testid=recovery-approve-form]";
        pb.fill(form, "code", "000-000-000-000").await;
        pb.submit(form).await;
        assert!(
            pb.until(|p| async move { p.text("#toast").await.contains("code") })
                .await,
            "a wrong code was not refused on the page"
        );
        pb.fill(form, "code", &code).await;
        pb.submit(form).await;
        assert!(
            wait_for(
                Duration::from_secs(30),
                || fresh.json(&["id", "--json"])["account"] == a.as_str()
            ),
            "Bob's approval from the page did not recover Alice's account"
        );
        pb.close().await;
    });
}
