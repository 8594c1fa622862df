//! The path rules on real directories, through both resolvers.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use super::*;

/// Content no error message may contain.
const SECRET: &str = "TOPSECRET-content";

/// `<tmp>/data` (the root, holding `a.txt` and `sub/b.txt`), `<tmp>/data-evil/x.txt` and
/// `<tmp>/outside/secret.txt` beside it.
struct Fixture {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let root = base.join("data");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "alpha").unwrap();
        std::fs::write(root.join("sub/b.txt"), "beta").unwrap();
        std::fs::create_dir(base.join("data-evil")).unwrap();
        std::fs::write(base.join("data-evil/x.txt"), SECRET).unwrap();
        std::fs::create_dir(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.txt"), SECRET).unwrap();
        Fixture {
            _tmp: tmp,
            base,
            root,
        }
    }

    /// The root opened by each resolver in turn.
    fn each(&self) -> Vec<FileRoots> {
        let roots = [self.root.clone()];
        let mut all = vec![FileRoots::with_walk(&roots).unwrap()];
        let native = FileRoots::new(&roots).unwrap();
        assert!(native.is_enabled());
        // These tests run on kernels with openat2: make sure it is the one tested.
        #[cfg(target_os = "linux")]
        assert_eq!(native.resolver, Resolver::Kernel);
        all.push(native);
        all
    }

    fn p(&self, rel: &str) -> String {
        self.root.join(rel).to_str().unwrap().to_owned()
    }

    fn b(&self, rel: &str) -> String {
        self.base.join(rel).to_str().unwrap().to_owned()
    }

    /// Names in `dir`, sorted.
    fn listing(&self, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn read_all(f: &FileRoots, path: &str) -> Result<(String, ReadFile), FilesError> {
    let mut r = f.open_read(path)?;
    let mut s = String::new();
    r.file.read_to_string(&mut s).unwrap();
    Ok((s, r))
}

fn code_of<T>(r: Result<T, FilesError>) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(e) => {
            assert!(!e.to_string().contains(SECRET), "{e}");
            e.code()
        }
    }
}

fn save(f: &FileRoots, path: &str, content: &str) -> Result<PathBuf, FilesError> {
    let mut p = f.create(path)?;
    p.file_mut().write_all(content.as_bytes()).unwrap();
    p.commit()
}

#[test]
fn reads_inside_the_root_absolute_and_relative() {
    let fx = Fixture::new();
    for f in fx.each() {
        let (s, r) = read_all(&f, &fx.p("a.txt")).unwrap();
        assert_eq!(s, "alpha");
        assert_eq!(r.len, 5);
        assert_eq!(r.path, fx.root.join("a.txt"));
        for rel in [
            "sub/b.txt",
            "./sub/b.txt",
            "sub//b.txt",
            "sub/./b.txt",
            "sub/../sub/b.txt",
        ] {
            let (s, r) = read_all(&f, rel).unwrap();
            assert_eq!(s, "beta", "{rel}");
            assert_eq!(r.path, fx.root.join("sub/b.txt"), "{rel}");
        }
        assert_eq!(read_all(&f, &fx.p("sub/../a.txt")).unwrap().0, "alpha");
    }
}

#[test]
fn dot_dot_out_of_the_root_is_refused() {
    let fx = Fixture::new();
    for f in fx.each() {
        for path in [
            "../outside/secret.txt".to_owned(),
            "sub/../../outside/secret.txt".to_owned(),
            // Out and back in is still out: the walk never leaves the root.
            "../data/a.txt".to_owned(),
            fx.p("../outside/secret.txt"),
            fx.p("sub/../../outside/secret.txt"),
        ] {
            assert_eq!(code_of(f.open_read(&path)), "PATH_OUTSIDE_ROOT", "{path}");
            assert_eq!(code_of(f.create(&path)), "PATH_OUTSIDE_ROOT", "{path}");
        }
        assert_eq!(code_of(f.create("../outside/new.txt")), "PATH_OUTSIDE_ROOT");
    }
    assert!(!fx.base.join("outside/new.txt").exists());
}

#[test]
fn absolute_paths_outside_every_root_are_refused_naming_the_roots() {
    let fx = Fixture::new();
    for f in fx.each() {
        let e = f.open_read("/etc/passwd").unwrap_err();
        assert_eq!(e.code(), "PATH_OUTSIDE_ROOT");
        let msg = e.to_string();
        assert!(msg.contains("/etc/passwd"), "{msg}");
        assert!(msg.contains(fx.root.to_str().unwrap()), "{msg}");
        assert_eq!(code_of(f.create("/etc/bitatlas-test")), "PATH_OUTSIDE_ROOT");
        assert_eq!(code_of(f.open_read("/etc")), "PATH_OUTSIDE_ROOT");
    }
}

#[test]
fn prefix_collision_with_a_sibling_directory_is_refused() {
    let fx = Fixture::new();
    for f in fx.each() {
        // `<tmp>/data-evil` starts with the string `<tmp>/data` but is not inside it.
        let path = fx.b("data-evil/x.txt");
        assert!(path.starts_with(fx.root.to_str().unwrap()));
        assert_eq!(code_of(f.open_read(&path)), "PATH_OUTSIDE_ROOT");
        assert_eq!(
            code_of(f.create(&fx.b("data-evil/new.txt"))),
            "PATH_OUTSIDE_ROOT"
        );
        assert_eq!(
            code_of(f.open_read("../data-evil/x.txt")),
            "PATH_OUTSIDE_ROOT"
        );
    }
    assert!(!fx.base.join("data-evil/new.txt").exists());
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let fx = Fixture::new();
    symlink(fx.base.join("outside/secret.txt"), fx.root.join("abs-file")).unwrap();
    symlink("../outside/secret.txt", fx.root.join("rel-file")).unwrap();
    symlink(fx.base.join("outside"), fx.root.join("abs-dir")).unwrap();
    symlink("../outside", fx.root.join("rel-dir")).unwrap();
    symlink("../../outside", fx.root.join("sub/deep-dir")).unwrap();
    // A link to a sibling whose name shares the root's prefix.
    symlink(fx.base.join("data-evil/x.txt"), fx.root.join("evil")).unwrap();
    for f in fx.each() {
        for path in [
            "abs-file".to_owned(),
            "rel-file".to_owned(),
            "abs-dir/secret.txt".to_owned(),
            "rel-dir/secret.txt".to_owned(),
            "sub/deep-dir/secret.txt".to_owned(),
            "evil".to_owned(),
            fx.p("abs-dir/secret.txt"),
        ] {
            assert_eq!(code_of(f.open_read(&path)), "PATH_OUTSIDE_ROOT", "{path}");
        }
        for path in ["abs-dir/new.txt", "rel-dir/new.txt", "sub/deep-dir/new.txt"] {
            assert_eq!(code_of(f.create(path)), "PATH_OUTSIDE_ROOT", "{path}");
        }
    }
    assert_eq!(fx.listing(&fx.base.join("outside")), ["secret.txt"]);
}

#[test]
fn symlinks_that_stay_inside_the_root_are_followed() {
    let fx = Fixture::new();
    symlink("a.txt", fx.root.join("rel-file")).unwrap();
    symlink("../a.txt", fx.root.join("sub/up-file")).unwrap();
    symlink(fx.root.join("sub/b.txt"), fx.root.join("abs-file")).unwrap();
    symlink("sub", fx.root.join("rel-dir")).unwrap();
    symlink(fx.root.join("sub"), fx.root.join("abs-dir")).unwrap();
    // A chain of links, each inside.
    symlink("rel-file", fx.root.join("chain")).unwrap();
    for f in fx.each() {
        for (path, want) in [
            ("rel-file", "alpha"),
            ("sub/up-file", "alpha"),
            ("abs-file", "beta"),
            ("rel-dir/b.txt", "beta"),
            ("abs-dir/b.txt", "beta"),
            ("rel-dir/../a.txt", "alpha"),
            ("chain", "alpha"),
        ] {
            let (s, r) = read_all(&f, path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(s, want, "{path}");
            assert!(r.path.starts_with(&fx.root), "{path}: {}", r.path.display());
        }
        let saved = save(&f, "abs-dir/new.txt", "n").unwrap();
        assert_eq!(saved, fx.root.join("sub/new.txt"));
        std::fs::remove_file(&saved).unwrap();
    }
}

#[test]
fn a_symlink_loop_is_an_invalid_path() {
    let fx = Fixture::new();
    symlink("loop-b", fx.root.join("loop-a")).unwrap();
    symlink("loop-a", fx.root.join("loop-b")).unwrap();
    for f in fx.each() {
        assert_eq!(code_of(f.open_read("loop-a")), "INVALID_PATH");
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let fx = Fixture::new();
    let fifo = fx.root.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for f in fx.each() {
        // Without O_NONBLOCK this open would wait for a writer forever.
        let e = f.open_read("pipe").unwrap_err();
        assert_eq!(e.code(), "NOT_A_FILE");
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert_eq!(code_of(f.create("pipe")), "NOT_A_FILE");
    }
}

#[test]
fn devices_are_refused() {
    let fx = Fixture::new();
    symlink("/dev/null", fx.root.join("null")).unwrap();
    for f in fx.each() {
        assert_eq!(code_of(f.open_read("null")), "PATH_OUTSIDE_ROOT");
    }
    // With /dev itself as a root, the device is inside and refused for what it is.
    let dev = FileRoots::new(&[PathBuf::from("/dev")]).unwrap();
    let e = dev.open_read("/dev/null").unwrap_err();
    assert_eq!(e.code(), "NOT_A_FILE");
    assert!(e.to_string().contains("a device"), "{e}");
}

#[test]
fn a_socket_is_refused() {
    let fx = Fixture::new();
    let _listener = std::os::unix::net::UnixListener::bind(fx.root.join("sock")).unwrap();
    for f in fx.each() {
        assert_eq!(code_of(f.open_read("sock")), "NOT_A_FILE");
        assert_eq!(code_of(f.create("sock")), "NOT_A_FILE");
    }
}

#[test]
fn directories_are_refused_for_reading() {
    let fx = Fixture::new();
    for f in fx.each() {
        assert_eq!(code_of(f.open_read("sub")), "IS_A_DIRECTORY");
        assert_eq!(code_of(f.open_read(&fx.p("sub"))), "IS_A_DIRECTORY");
        assert_eq!(
            code_of(f.open_read(fx.root.to_str().unwrap())),
            "IS_A_DIRECTORY"
        );
        assert_eq!(code_of(f.open_read("sub/..")), "IS_A_DIRECTORY");
        for path in ["sub/", ".", "sub/."] {
            assert_eq!(code_of(f.open_read(path)), "INVALID_PATH", "{path}");
        }
    }
}

#[test]
fn malformed_paths_are_invalid() {
    let fx = Fixture::new();
    for f in fx.each() {
        for path in ["", "a.txt\0", "sub/\0b.txt", "\0"] {
            let e = f.open_read(path).unwrap_err();
            assert_eq!(e.code(), "INVALID_PATH", "{path:?}");
            assert!(!e.to_string().contains('\0'));
            assert_eq!(code_of(f.create(path)), "INVALID_PATH", "{path:?}");
        }
        assert_eq!(code_of(f.create("sub/..")), "INVALID_PATH");
        let long = "n".repeat(300);
        assert_eq!(code_of(f.open_read(&long)), "INVALID_PATH");
    }
}

#[test]
fn missing_files_are_not_found() {
    let fx = Fixture::new();
    for f in fx.each() {
        assert_eq!(code_of(f.open_read("nope.txt")), "FILE_NOT_FOUND");
        assert_eq!(code_of(f.open_read("nope/b.txt")), "FILE_NOT_FOUND");
        // A file used as a directory.
        assert_eq!(code_of(f.open_read("a.txt/x")), "FILE_NOT_FOUND");
    }
}

#[test]
fn saving_over_a_directory_is_refused() {
    let fx = Fixture::new();
    for f in fx.each() {
        let e = f.create("sub").unwrap_err();
        assert_eq!(e.code(), "IS_A_DIRECTORY");
        assert_eq!(
            code_of(f.create(fx.root.to_str().unwrap())),
            "IS_A_DIRECTORY"
        );
        assert_eq!(fx.listing(&fx.root.join("sub")), ["b.txt"]);
        // A directory that appears between create and commit.
        let mut p = f.create("later").unwrap();
        p.file_mut().write_all(b"x").unwrap();
        std::fs::create_dir(fx.root.join("later")).unwrap();
        assert_eq!(code_of(p.commit()), "IS_A_DIRECTORY");
        assert!(fx.root.join("later").is_dir());
        std::fs::remove_dir(fx.root.join("later")).unwrap();
        assert_eq!(fx.listing(&fx.root), ["a.txt", "sub"]);
    }
}

#[test]
fn saving_into_a_missing_directory_is_refused_and_creates_nothing() {
    let fx = Fixture::new();
    for f in fx.each() {
        let e = f.create("new-dir/file.txt").unwrap_err();
        assert_eq!(e.code(), "FILE_NOT_FOUND");
        assert!(e.to_string().contains("create the directory"), "{e}");
        assert_eq!(code_of(f.create("a.txt/file.txt")), "FILE_NOT_FOUND");
        assert_eq!(fx.listing(&fx.root), ["a.txt", "sub"]);
    }
}

#[test]
fn a_dropped_pending_file_leaves_nothing() {
    let fx = Fixture::new();
    for f in fx.each() {
        let mut p = f.create("sub/new.txt").unwrap();
        p.file_mut().write_all(b"half").unwrap();
        // The temporary file is beside the destination, hidden, owner-only.
        let names = fx.listing(&fx.root.join("sub"));
        assert_eq!(names.len(), 2, "{names:?}");
        let temp = names.iter().find(|n| n.starts_with(".bitatlas-")).unwrap();
        let mode = std::fs::metadata(fx.root.join("sub").join(temp))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!fx.root.join("sub/new.txt").exists());
        drop(p);
        assert_eq!(fx.listing(&fx.root.join("sub")), ["b.txt"]);
        // And an overwrite abandoned halfway leaves the old file as it was.
        let mut p = f.create("a.txt").unwrap();
        p.file_mut().write_all(b"half").unwrap();
        drop(p);
        assert_eq!(
            std::fs::read_to_string(fx.root.join("a.txt")).unwrap(),
            "alpha"
        );
        assert_eq!(fx.listing(&fx.root), ["a.txt", "sub"]);
    }
}

#[test]
fn commit_replaces_an_existing_file_atomically() {
    let fx = Fixture::new();
    for (i, f) in fx.each().into_iter().enumerate() {
        let old = format!("old-{i}");
        std::fs::write(fx.root.join("a.txt"), &old).unwrap();
        let mut reader = std::fs::File::open(fx.root.join("a.txt")).unwrap();
        let mut p = f.create(&fx.p("a.txt")).unwrap();
        assert_eq!(p.path(), fx.root.join("a.txt"));
        p.file_mut().write_all(b"new content").unwrap();
        // Until the commit the destination is the old file, whole.
        assert_eq!(std::fs::read_to_string(fx.root.join("a.txt")).unwrap(), old);
        let saved = p.commit().unwrap();
        assert_eq!(saved, fx.root.join("a.txt"));
        assert_eq!(
            std::fs::read_to_string(fx.root.join("a.txt")).unwrap(),
            "new content"
        );
        // A reader that had the old file open still reads the old bytes: a rename, not an
        // in-place rewrite.
        let mut s = String::new();
        reader.read_to_string(&mut s).unwrap();
        assert_eq!(s, old);
        assert_eq!(fx.listing(&fx.root), ["a.txt", "sub"]);
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_new_file_is_saved_relative_to_the_first_root() {
    let fx = Fixture::new();
    let second = fx.base.join("second");
    std::fs::create_dir(&second).unwrap();
    let f = FileRoots::new(&[fx.root.clone(), second.clone()]).unwrap();
    assert_eq!(
        f.roots().collect::<Vec<_>>(),
        [fx.root.as_path(), second.as_path()]
    );
    assert_eq!(save(&f, "one.txt", "1").unwrap(), fx.root.join("one.txt"));
    let two = second.join("two.txt");
    assert_eq!(save(&f, two.to_str().unwrap(), "2").unwrap(), two);
    assert_eq!(read_all(&f, two.to_str().unwrap()).unwrap().0, "2");
    assert_eq!(code_of(f.open_read("two.txt")), "FILE_NOT_FOUND");
}

#[test]
fn a_symlink_swapped_in_before_commit_is_replaced_not_followed() {
    let fx = Fixture::new();
    let victim = fx.base.join("outside/secret.txt");
    for f in fx.each() {
        let mut p = f.create("swap.txt").unwrap();
        p.file_mut().write_all(b"mine").unwrap();
        symlink(&victim, fx.root.join("swap.txt")).unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), SECRET);
        let meta = std::fs::symlink_metadata(fx.root.join("swap.txt")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(
            std::fs::read_to_string(fx.root.join("swap.txt")).unwrap(),
            "mine"
        );
        std::fs::remove_file(fx.root.join("swap.txt")).unwrap();
    }
    assert_eq!(fx.listing(&fx.base.join("outside")), ["secret.txt"]);
}

#[test]
fn a_directory_swapped_for_a_symlink_before_commit_keeps_the_file_inside() {
    let fx = Fixture::new();
    for f in fx.each() {
        std::fs::create_dir(fx.root.join("d")).unwrap();
        let mut p = f.create("d/file.txt").unwrap();
        p.file_mut().write_all(b"mine").unwrap();
        std::fs::rename(fx.root.join("d"), fx.root.join("d-moved")).unwrap();
        symlink(fx.base.join("outside"), fx.root.join("d")).unwrap();
        p.commit().unwrap();
        assert_eq!(fx.listing(&fx.base.join("outside")), ["secret.txt"]);
        assert_eq!(
            std::fs::read_to_string(fx.root.join("d-moved/file.txt")).unwrap(),
            "mine"
        );
        std::fs::remove_file(fx.root.join("d")).unwrap();
        std::fs::remove_dir_all(fx.root.join("d-moved")).unwrap();
    }
}

#[test]
fn a_root_named_through_a_symlink_accepts_both_spellings() {
    let fx = Fixture::new();
    let alias = fx.base.join("alias");
    symlink(&fx.root, &alias).unwrap();
    let f = FileRoots::new(std::slice::from_ref(&alias)).unwrap();
    assert_eq!(f.roots().collect::<Vec<_>>(), [fx.root.as_path()]);
    let via_alias = alias.join("a.txt");
    assert_eq!(
        read_all(&f, via_alias.to_str().unwrap()).unwrap().0,
        "alpha"
    );
    assert_eq!(read_all(&f, &fx.p("a.txt")).unwrap().0, "alpha");
    // An absolute link naming the root by its alias stays inside.
    symlink(alias.join("sub/b.txt"), fx.root.join("via-alias")).unwrap();
    assert_eq!(read_all(&f, "via-alias").unwrap().0, "beta");
    assert_eq!(
        code_of(f.open_read(&fx.b("alias-evil/x"))),
        "PATH_OUTSIDE_ROOT"
    );
}

#[test]
fn disabled_files_say_how_to_enable_them() {
    for f in [FileRoots::disabled(), FileRoots::new(&[]).unwrap()] {
        assert!(!f.is_enabled());
        let e = f.open_read("a.txt").unwrap_err();
        assert_eq!(e.code(), "FILES_DISABLED");
        let msg = e.to_string();
        assert!(
            msg.contains("--files-root") && msg.contains("[files] roots"),
            "{msg}"
        );
        assert_eq!(code_of(f.create("a.txt")), "FILES_DISABLED");
    }
}

#[test]
fn bad_roots_are_refused_naming_them() {
    let fx = Fixture::new();
    for (root, why) in [
        (fx.base.join("missing"), "does not exist"),
        (fx.root.join("a.txt"), "is not a directory"),
    ] {
        let e = FileRoots::new(&[fx.root.clone(), root.clone()]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, FilesError::InvalidRoot { .. }), "{msg}");
        assert!(
            msg.contains(root.to_str().unwrap()) && msg.contains(why),
            "{msg}"
        );
        assert!(msg.contains("--files-root"), "{msg}");
    }
}

#[test]
fn the_same_root_twice_is_one_root() {
    let fx = Fixture::new();
    let f = FileRoots::new(&[fx.root.clone(), fx.root.join("sub/..")]).unwrap();
    assert_eq!(f.roots().count(), 1);
}

#[tokio::test]
async fn writes_and_commit_run_on_blocking_threads() {
    fn send<T: Send + 'static>() {}
    send::<PendingFile>();
    send::<ReadFile>();
    fn shared<T: Send + Sync + 'static>() {}
    shared::<FileRoots>();

    let fx = Fixture::new();
    let f = FileRoots::new(std::slice::from_ref(&fx.root)).unwrap();
    let mut pending = f.create("big.bin").unwrap();
    let chunk = vec![7u8; 1 << 20];
    let saved = tokio::task::spawn_blocking(move || {
        for _ in 0..8 {
            pending.file_mut().write_all(&chunk).unwrap();
        }
        pending.commit()
    })
    .await
    .unwrap()
    .unwrap();
    let read = f.open_read("big.bin").unwrap();
    assert_eq!(read.len, 8 << 20);
    assert_eq!(read.path, saved);
}
