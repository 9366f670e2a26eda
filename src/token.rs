//! `yuqing token new`: a random API token and the configuration entry that
//! accepts it (only its SHA-256 is stored).

use std::process::ExitCode;

use anyhow::Context;

/// `yuqing token …`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Make a random token; print it once, with the `[[http.tokens]]` entry
    /// for the pipeline configuration.
    New {
        /// Who will hold it (shown in logs instead of the token).
        #[arg(long)]
        name: String,
        /// `analyst` (read the API) or `admin` (also reload dictionaries).
        #[arg(long, default_value = "analyst", value_parser = ["analyst", "admin"])]
        role: String,
    },
    /// Print the SHA-256 of a token read from stdin (for tokens made
    /// elsewhere).
    Hash,
}

/// The `[[http.tokens]]` entry accepting a token, written by the TOML
/// serializer so that any name is quoted and escaped.
fn entry(name: &str, sha256: &str, role: &str) -> anyhow::Result<String> {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        name: &'a str,
        sha256: &'a str,
        role: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Http<'a> {
        tokens: [Entry<'a>; 1],
    }
    #[derive(serde::Serialize)]
    struct Snippet<'a> {
        http: Http<'a>,
    }
    toml::to_string(&Snippet {
        http: Http {
            tokens: [Entry { name, sha256, role }],
        },
    })
    .context("writing the configuration entry")
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::New { name, role } => {
            let mut bytes = [0u8; 24];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let token: String = format!(
                "yq_{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            let hash = yuqing_server::auth::hash_hex(&token);
            let entry = entry(&name, &hash, &role)?;
            println!("{token}");
            eprintln!(
                "yuqing token: give the line above to its holder (it is not stored anywhere); add to the pipeline configuration or the `serve --tokens` file:\n\n{entry}"
            );
        }
        Command::Hash => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from stdin")?;
            let token = token.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!token.is_empty(), "no token on stdin");
            println!("{}", yuqing_server::auth::hash_hex(token));
        }
    }
    Ok(ExitCode::SUCCESS)
}
