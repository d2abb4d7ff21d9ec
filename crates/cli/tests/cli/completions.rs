//! `rack-gateway completions bash|zsh|fish`.

use super::*;

#[tokio::test]
async fn completion_scripts_are_printed_and_bash_accepts_its_own() {
    let cli = Cli::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = cli.run(&["completions", shell]).await;
        out.ok();
        assert!(out.stdout.contains("deploy-approval"), "{shell}: {out:#?}");
    }
    let bash = cli.run(&["completions", "bash"]).await.stdout;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rack-gateway.bash");
    std::fs::write(&file, bash).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p rack-gateway",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let doc = cli
        .run(&["completions", "fish", "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(doc["shell"], "fish");
    assert!(
        doc["script"]
            .as_str()
            .unwrap()
            .contains("complete -c rack-gateway")
    );
    cli.run(&["completions", "tcsh"]).await.failed(2);
}
