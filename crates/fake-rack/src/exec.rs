//! A tiny shell for exec and one-off processes: `echo`, `exit N`, `sleep N`, `env`, `cat`,
//! `true`, `false`, joined by `;`, `&&` or `||`. Anything else is "not found" (exit 127).

use std::time::Duration;

use tokio::sync::mpsc;

/// Where a command writes and reads.
pub(crate) struct ExecIo {
    pub out: mpsc::Sender<String>,
    /// Stdin chunks; `None` or a closed channel is EOF.
    pub stdin: Option<mpsc::Receiver<String>>,
    /// `KEY=VALUE` lines printed by `env`.
    pub env: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    Always,
    And,
    Or,
}

/// Runs a command line and returns its exit status.
pub(crate) async fn run(command: &str, io: &mut ExecIo) -> i32 {
    let mut status = 0;
    for (join, words) in parse(command) {
        let skip = match join {
            Join::Always => false,
            Join::And => status != 0,
            Join::Or => status == 0,
        };
        if skip {
            continue;
        }
        match builtin(&words, io).await {
            Step::Continue(code) => status = code,
            Step::Exit(code) => return code,
        }
    }
    status
}

enum Step {
    Continue(i32),
    Exit(i32),
}

async fn builtin(words: &[String], io: &mut ExecIo) -> Step {
    let Some((name, args)) = words.split_first() else {
        return Step::Continue(0);
    };
    match name.as_str() {
        "echo" => {
            let (newline, args) = match args.first().map(String::as_str) {
                Some("-n") => (false, &args[1..]),
                _ => (true, args),
            };
            let mut line = args.join(" ");
            if newline {
                line.push('\n');
            }
            write(io, line).await;
            Step::Continue(0)
        }
        "exit" => match args.first().map(|a| a.parse::<i64>()) {
            None => Step::Exit(0),
            Some(Ok(code)) => Step::Exit(i32::try_from(code.rem_euclid(256)).unwrap_or(255)),
            Some(Err(_)) => {
                write(io, format!("sh: exit: Illegal number: {}\n", args[0])).await;
                Step::Exit(2)
            }
        },
        "sleep" => {
            let seconds = args.first().and_then(|a| a.parse::<f64>().ok());
            match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(duration) => {
                    tokio::time::sleep(duration).await;
                    Step::Continue(0)
                }
                None => {
                    let arg = args.first().map(String::as_str).unwrap_or_default();
                    write(io, format!("sleep: invalid time interval '{arg}'\n")).await;
                    Step::Continue(1)
                }
            }
        }
        "env" => {
            let text: String = io.env.iter().map(|line| format!("{line}\n")).collect();
            write(io, text).await;
            Step::Continue(0)
        }
        "cat" => {
            if let Some(stdin) = io.stdin.as_mut() {
                while let Some(chunk) = stdin.recv().await {
                    if io.out.send(chunk).await.is_err() {
                        break;
                    }
                }
            }
            Step::Continue(0)
        }
        "true" => Step::Continue(0),
        "false" => Step::Continue(1),
        other => {
            write(io, format!("sh: {other}: not found\n")).await;
            Step::Continue(127)
        }
    }
}

async fn write(io: &ExecIo, text: String) {
    if !text.is_empty() {
        // The reader may be gone (client left); the command still finishes.
        let _ = io.out.send(text).await;
    }
}

/// Splits a command line into words with single/double quotes and backslash escapes, and into
/// commands at `;`, `&&` and `||`.
fn parse(line: &str) -> Vec<(Join, Vec<String>)> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut join = Join::Always;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            ';' | '&' | '|' => {
                let next_join = match c {
                    ';' => Join::Always,
                    '&' if chars.peek() == Some(&'&') => Join::And,
                    '|' if chars.peek() == Some(&'|') => Join::Or,
                    _ => {
                        // A lone `&` or `|`: no job control or pipes here; keep it as text.
                        in_word = true;
                        word.push(c);
                        continue;
                    }
                };
                if next_join != Join::Always {
                    chars.next();
                }
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                commands.push((join, std::mem::take(&mut words)));
                join = next_join;
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    commands.push((join, words));
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn output_of(command: &str) -> (String, i32) {
        let (out, mut rx) = mpsc::channel(16);
        let mut io = ExecIo {
            out,
            stdin: None,
            env: vec!["A=1".to_owned()],
        };
        let code = run(command, &mut io).await;
        drop(io);
        let mut text = String::new();
        while let Some(chunk) = rx.recv().await {
            text.push_str(&chunk);
        }
        (text, code)
    }

    #[tokio::test]
    async fn sequences_short_circuit_and_exit_stops() {
        assert_eq!(
            output_of("echo 'a  b' \"c\"; false && echo no || echo yes; exit 3; echo never").await,
            ("a  b c\nyes\n".to_owned(), 3)
        );
    }

    #[tokio::test]
    async fn unknown_commands_are_not_found() {
        assert_eq!(
            output_of("rm -rf /").await,
            ("sh: rm: not found\n".to_owned(), 127)
        );
    }

    #[tokio::test]
    async fn env_prints_the_release_environment() {
        assert_eq!(output_of("env").await, ("A=1\n".to_owned(), 0));
    }
}
