//! The node's configuration as an operator meets it: the commented example config
//! (`examples/ringgate.toml`) names every key and gives the defaults, and the `ringgate`
//! binary takes a file, `RINGGATE_*` variables and flags in that order of precedence, shows
//! the result with `--print-config`, and refuses bad settings naming the key. No cluster is
//! needed: `--print-config` exits before joining one, and a refused config never gets there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringgate_examples::node_config::{KEYS, Layers, NodeConfig};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ringgate.toml")
}

/// Runs the binary with `args` and `env` (and no other RINGGATE_* variable).
fn ringgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringgate"));
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("RINGGATE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("the ringgate binary runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ringgate-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_config_is_the_defaults_and_names_every_key() {
    let text = std::fs::read_to_string(example()).unwrap();
    let mut layers = Layers::new();
    layers.file(example(), &text).unwrap();
    assert_eq!(layers.build().unwrap(), NodeConfig::default());

    // Every key appears, set or commented out, in its section, with its variable.
    let mut section = String::new();
    let mut found = Vec::new();
    for line in text.lines() {
        let bare = line.trim_start_matches('#').trim();
        if let Some(name) = bare.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !name.contains(' ') && !name.contains(',') {
                section = name.to_owned();
            }
            continue;
        }
        if let Some((name, _)) = bare.split_once(" = ") {
            let path = if section.is_empty() {
                name.to_owned()
            } else {
                format!("{section}.{name}")
            };
            found.push(path);
        }
    }
    for key in &KEYS {
        assert!(
            found.contains(&key.path.to_owned()),
            "{} not in the example",
            key.path
        );
        assert!(text.contains(key.env), "{} not in the example", key.env);
        assert!(
            text.contains(&format!("--{}", key.flag)),
            "--{} not in the example",
            key.flag
        );
    }
    for path in &found {
        assert!(
            KEYS.iter().any(|k| k.path == path),
            "the example shows {path}, which is no key"
        );
    }

    // Uncommented, every optional key is valid as the example shows it (files aside).
    let uncommented: String = text
        .lines()
        .map(|l| {
            let bare = l.trim_start_matches("# ");
            if bare.contains(" = ") && !bare.starts_with('#')
                || bare.starts_with("[tls]")
                || bare.starts_with("[replica_tls]")
            {
                bare.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut layers = Layers::new();
    layers.file(example(), &uncommented).unwrap();
    let all = layers.build().unwrap();
    assert!(all.tls.is_some() && all.replica_tls.is_some() && all.admin_listen.is_some());
}

#[test]
fn flags_beat_variables_which_beat_the_file() {
    let file = temp_file(
        "precedence.toml",
        "listen = \"127.0.0.1:1001\"\nrack = \"from-file\"\nmax_in_flight = 7\n\
         [cluster]\nlocal_dc = \"from-file\"\ncontact_points = [\"127.0.0.1\"]\n",
    );
    let out = ringgate(
        &[
            "--config",
            file.to_str().unwrap(),
            "--local-dc",
            "from-flag",
            "--contact-points",
            "127.0.0.1,127.0.0.2:9043",
            "--print-config",
        ],
        &[
            ("RINGGATE_LISTEN", "127.0.0.1:2002"),
            ("RINGGATE_LOCAL_DC", "from-env"),
            ("RINGGATE_AUTH", "true"),
            ("RINGGATE_PASSWORD", "secret"),
            ("RINGGATE_USERNAME", "node"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut layers = Layers::new();
    layers.file(PathBuf::from("printed"), &stdout).unwrap();
    let shown = layers.build().unwrap();
    assert_eq!(
        shown.listen,
        "127.0.0.1:2002".parse().unwrap(),
        "env over file"
    );
    assert_eq!(shown.rack, "from-file");
    assert_eq!(shown.max_in_flight, 7);
    assert!(shown.auth);
    assert_eq!(
        shown.cluster.local_dc.as_deref(),
        Some("from-flag"),
        "flag over env"
    );
    assert_eq!(
        shown.cluster.contact_points,
        vec!["127.0.0.1".to_owned(), "127.0.0.2:9043".to_owned()]
    );
    assert!(
        !stdout.contains("secret"),
        "the password is shown:\n{stdout}"
    );
    assert_eq!(shown.cluster.password.as_deref(), Some("(hidden)"));
}

/// A config file, variables, flags, and the key the refusal must name.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    &'static str,
);

#[test]
fn bad_settings_are_refused_naming_the_key() {
    let cases: [Case; 7] = [
        (
            "[cluster]\nlocal_datacenter = \"dc1\"\n",
            &[],
            &[],
            "`cluster.local_datacenter`",
        ),
        ("listen = \"9142\"\n", &[], &[], "`listen`"),
        (
            "",
            &[("RINGGATE_ADMIN_LISTEN", "localhost")],
            &[],
            "`admin_listen` (from environment variable RINGGATE_ADMIN_LISTEN)",
        ),
        (
            "",
            &[],
            &["--max-connections", "0"],
            "`max_connections` (from flag --max-connections)",
        ),
        (
            "[tls]\ncert = \"/nonexistent.pem\"\n",
            &[],
            &[],
            "`tls.cert`",
        ),
        (
            "[replica_tls]\nca = \"/nonexistent-ca.pem\"\n",
            &[],
            &[],
            "`replica_tls.ca`",
        ),
        ("[log]\nformat = \"yaml\"\n", &[], &[], "`log.format`"),
    ];
    for (file, env, flags, named) in cases {
        let path = temp_file("bad.toml", file);
        let mut args = vec!["--config", path.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = ringgate(&args, env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{file:?} {env:?} {flags:?}: {stderr}"
        );
        assert!(
            stderr.contains(named),
            "{file:?} {env:?} {flags:?}: {named} not in {stderr:?}"
        );
    }
}
