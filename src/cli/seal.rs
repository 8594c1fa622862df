//! `bitatlas seal` and `bitatlas open`: the envelope format as a streaming CLI.
//!
//! Both stream with two chunk buffers. `open` into a file writes a temporary file beside the
//! target and renames it only after the final chunk verified, so a failed open leaves no
//! output file. `open` into `-` (stdout) releases each chunk's plaintext as soon as that chunk
//! verified: the exit code is authoritative, and a consumer must discard the output unless it
//! is 0.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use super::Exit;
use crate::crypto::{self, Context, CryptoError, Keyring};

/// Inputs larger than this get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Environment variable holding a whole keyring document (used when `--keyring` is absent).
pub const KEYRING_ENV: &str = "BITATLAS_KEYRING";

/// Where the object lives and which keyring to use.
#[derive(Debug, clap::Args)]
pub struct ObjectArgs {
    /// Object key the envelope is bound to.
    #[arg(long, value_name = "OBJECT_KEY")]
    key: String,
    /// Tenant the envelope is bound to.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Store the envelope is bound to.
    #[arg(long, default_value = "local")]
    store: String,
    /// Keyring file (default: $BITATLAS_KEYRING holding the whole document, else the data
    /// directory's default keyring).
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
}

/// Arguments of `bitatlas seal`.
#[derive(Debug, clap::Args)]
pub struct SealArgs {
    #[command(flatten)]
    object: ObjectArgs,
    /// Content type stored inside the sealed envelope.
    #[arg(long)]
    content_type: Option<String>,
    /// Plaintext input file, or `-` for stdin.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Envelope output file, or `-` for stdout.
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// Arguments of `bitatlas open`.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    #[command(flatten)]
    object: ObjectArgs,
    /// Envelope input file, or `-` for stdin.
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Plaintext output file, or `-` for stdout.
    #[arg(value_name = "OUT")]
    output: PathBuf,
}

/// Runs `bitatlas seal`.
pub fn run_seal(args: SealArgs) -> Exit {
    let content_type = args.content_type.as_deref();
    transform(
        &args.object,
        &args.input,
        &args.output,
        |keyring, ctx, input, w| {
            crypto::seal_stream(keyring, ctx, content_type, &BTreeMap::new(), input, w).map(|_| ())
        },
    )
}

/// Runs `bitatlas open`.
pub fn run_open(args: OpenArgs) -> Exit {
    transform(
        &args.object,
        &args.input,
        &args.output,
        |keyring, ctx, input, w| crypto::open_stream(keyring, ctx, input, w).map(|_| ()),
    )
}

/// Streams `input` through `body` into `output` with the object's keyring and context, a
/// progress bar for large inputs on a terminal, and the exit code of the outcome.
fn transform(
    object: &ObjectArgs,
    input: &Path,
    output: &Path,
    body: impl FnOnce(&Keyring, &Context, &mut dyn Read, &mut dyn Write) -> Result<(), CryptoError>,
) -> Exit {
    let run = || -> Result<(), Failure> {
        let keyring = load_keyring(object)?;
        let ctx = context(object);
        let (mut input, len) = open_input(input)?;
        let bar = progress(len);
        let mut input: Box<dyn Read> = match &bar {
            Some(b) => Box::new(b.wrap_read(input)),
            None => Box::new(&mut input),
        };
        let result = write_output(output, |w| body(&keyring, &ctx, &mut input, w));
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    };
    finish(run())
}

/// A failure with the exit code it maps to; the message is one line for stderr.
struct Failure {
    exit: Exit,
    message: String,
}

impl From<CryptoError> for Failure {
    fn from(e: CryptoError) -> Self {
        let exit = if e.is_bad_envelope() {
            Exit::Integrity
        } else {
            Exit::Failure
        };
        Failure {
            exit,
            message: e.to_string(),
        }
    }
}

fn other(message: String) -> Failure {
    Failure {
        exit: Exit::Failure,
        message,
    }
}

fn finish(r: Result<(), Failure>) -> Exit {
    match r {
        Ok(()) => Exit::Ok,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.exit
        }
    }
}

fn context(o: &ObjectArgs) -> Context<'_> {
    Context {
        tenant: &o.tenant,
        store: &o.store,
        key: &o.key,
    }
}

fn load_keyring(o: &ObjectArgs) -> Result<Keyring, Failure> {
    let ring = match &o.keyring {
        Some(path) => Keyring::load(path),
        None if std::env::var_os(KEYRING_ENV).is_some() => Keyring::from_env(KEYRING_ENV),
        None => {
            let path = crate::config::default_keyring_path(&crate::config::default_data_dir());
            if !path.exists() {
                return Err(other(format!(
                    "no keyring at {}; create one with `bitatlas keys generate` or pass --keyring",
                    path.display()
                )));
            }
            Keyring::load(&path)
        }
    };
    ring.map_err(|e| other(e.to_string()))
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// The input reader and, for files, its length.
fn open_input(p: &Path) -> Result<(Box<dyn Read>, Option<u64>), Failure> {
    if is_dash(p) {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let f = File::open(p).map_err(|e| other(format!("cannot open {}: {e}", p.display())))?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

fn progress(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    let len = len.filter(|&l| l >= PROGRESS_THRESHOLD)?;
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

/// Runs `body` against the output: stdout directly, or a temporary file in the target's
/// directory that replaces the target only when `body` succeeded.
fn write_output(
    out: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<(), CryptoError>,
) -> Result<(), Failure> {
    if is_dash(out) {
        let stdout = io::stdout();
        let mut w = BufWriter::with_capacity(64 * 1024, stdout.lock());
        body(&mut w)?;
        w.flush().map_err(CryptoError::from)?;
        return Ok(());
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".bitatlas-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| other(format!("cannot write in {}: {e}", dir.display())))?;
    let mut w = BufWriter::with_capacity(64 * 1024, tmp);
    // On error the temporary file is dropped, which deletes it.
    body(&mut w)?;
    let tmp = w
        .into_inner()
        .map_err(|e| other(format!("cannot write {}: {}", out.display(), e.error())))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| other(format!("cannot write {}: {e}", out.display())))?;
    tmp.persist(out)
        .map_err(|e| other(format!("cannot write {}: {}", out.display(), e.error)))?;
    Ok(())
}
