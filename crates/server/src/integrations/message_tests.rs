use super::*;

fn summary(status: ApprovalStatus) -> Summary {
    Summary {
        app: "myapp".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        commit_url: Some(
            "https://github.com/acme/myapp/commit/0123456789abcdef0123456789abcdef01234567".into(),
        ),
        branch: Some("feature/x".into()),
        pr_url: Some("https://github.com/acme/myapp/pull/12".into()),
        pipeline_url: None,
        message: "Ship <it> & @team".into(),
        requester: "API token ci".into(),
        status,
        expires_at: Some(time::macros::datetime!(2026-01-01 12:15 UTC)),
        approvers: vec![(
            "alice@example.com".into(),
            time::macros::datetime!(2026-01-01 12:00 UTC),
        )],
        rejection_notes: None,
        required_approvals: 1,
        link: "https://gw.example.com/deploy-approvals/abc".into(),
    }
}

#[test]
fn github_web_links_come_from_the_api_base_for_github_and_enterprise() {
    let web = |u: &str| github_web_base(&url::Url::parse(u).unwrap());
    assert_eq!(web("https://api.github.com/"), "https://github.com/");
    assert_eq!(
        web("https://ghe.example.com/api/v3/"),
        "https://ghe.example.com/"
    );
}

#[test]
fn pipeline_numbers_may_be_strings_or_numbers_but_nothing_else() {
    assert_eq!(
        pipeline_number(&json!({"pipeline_number": "42"})).as_deref(),
        Some("42")
    );
    assert_eq!(
        pipeline_number(&json!({"pipeline_number": 42})).as_deref(),
        Some("42")
    );
    for bad in [
        json!({}),
        json!({"pipeline_number": "4x"}),
        json!({"pipeline_number": -1}),
        json!({"pipeline_number": 1.5}),
    ] {
        assert_eq!(pipeline_number(&bad), None, "{bad}");
    }
}

#[test]
fn the_commit_status_follows_the_state_and_fits_githubs_limit() {
    let cases = [
        (ApprovalStatus::Pending, "pending"),
        (ApprovalStatus::Approved, "success"),
        (ApprovalStatus::Rejected, "failure"),
        (ApprovalStatus::Expired, "error"),
        (ApprovalStatus::Deployed, "success"),
    ];
    for (status, want) in cases {
        let mut s = summary(status);
        s.approvers = (0..20)
            .map(|i| (format!("approver-{i}@example.com"), s.approvers[0].1))
            .collect();
        let (state, description) = commit_status(&s);
        assert_eq!(state, want);
        assert!(description.chars().count() <= 140);
    }
}

#[test]
fn notifications_carry_what_an_approver_needs_and_escape_the_requester() {
    let s = summary(ApprovalStatus::Pending);
    let slack = slack_payload(Transition::Created, &s).to_string();
    for part in [
        "myapp",
        "0123456",
        "feature/x",
        "pull/12",
        "API token ci",
        "2026-01-01T12:15:00Z",
        "deploy-approvals/abc",
        "Ship &lt;it&gt; &amp; @team",
    ] {
        assert!(slack.contains(part), "{part} missing: {slack}");
    }
    let comment = pr_comment("<!-- m -->", &s);
    assert!(
        comment.contains("Ship &lt;it&gt; &amp; @\u{200d}team")
            && comment.contains("alice@\u{200d}example.com"),
        "{comment}"
    );
    assert!(comment.starts_with("<!-- m -->") && comment.contains("pending"));
    let hook = webhook_body(
        Transition::Created,
        &s,
        uuid::Uuid::nil(),
        uuid::Uuid::nil(),
        time::macros::datetime!(2026-01-01 12:00 UTC),
    );
    assert_eq!(hook["event"], "deploy_approval.created");
    assert_eq!(
        hook["deploy_approval_request"]["message"], "Ship <it> & @team",
        "JSON receivers get the raw text"
    );
}
