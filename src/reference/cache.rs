//! The Service Reference's cache on disk. Under `<cache_dir>/service-reference/`: `index.json` (the list of
//! services) and `services/<prefix>.json` (one service's actions), each `{"fetched_at": <unix seconds>,
//! "url": <where it came from>, "data": …}`, fresh for a day. Files are written whole or not at all (a
//! temporary file in the same directory, renamed into place), so that a concurrent `ctlookup` never reads
//! half a file.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a cached file is used without asking the service again.
const MAX_AGE_SECS: u64 = 24 * 60 * 60;

/// A cache file: the data, when and where it was fetched.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CacheFile<T> {
    pub fetched_at: u64,
    pub url: String,
    pub data: T,
}

impl<T> CacheFile<T> {
    /// `data` as fetched from `url` just now.
    pub fn fetched_now(url: &str, data: T) -> CacheFile<T> {
        CacheFile { fetched_at: unix_now(), url: url.to_owned(), data }
    }

    /// Fetched less than a day ago from `url` (a file from another address, or dated in the future, is not).
    pub fn is_fresh_for(&self, url: &str) -> bool {
        let now = unix_now();
        self.url == url && self.fetched_at <= now && now - self.fetched_at < MAX_AGE_SECS
    }

    /// How long ago it was fetched, as a person says it: `30 s`, `10 min`, `5 h`, `3 days`.
    pub fn age(&self) -> String {
        age(unix_now().saturating_sub(self.fetched_at))
    }
}

/// Where the cache files are.
pub(super) struct Cache {
    /// `<cache_dir>/service-reference`.
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// The file of one service, named safely whatever the prefix.
    pub fn service_path(&self, prefix: &str) -> PathBuf {
        self.services_dir().join(file_name(prefix))
    }

    /// Every service file cached so far (temporary files of a write under way left out); none when the
    /// cache does not exist.
    pub fn service_paths(&self) -> Vec<PathBuf> {
        let Ok(files) = fs::read_dir(self.services_dir()) else {
            return Vec::new();
        };
        files
            .flatten()
            .filter(|file| !file.file_name().to_string_lossy().starts_with('.'))
            .map(|file| file.path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect()
    }

    fn services_dir(&self) -> PathBuf {
        self.dir.join("services")
    }
}

/// A cache file, or `None` when missing or unreadable (an unreadable file is then fetched again and
/// replaced).
pub(super) fn read<T: DeserializeOwned>(path: &Path) -> Option<CacheFile<T>> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Writes `file` to `path` whole: to a hidden temporary file in the same directory (the same file system,
/// so that the rename is atomic), then renamed over `path`. The temporary file is removed on failure.
pub(super) fn write<T: Serialize>(path: &Path, file: &CacheFile<T>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bytes = serde_json::to_vec(file)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    temp.write_all(&bytes).with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(path).map_err(|err| err.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A safe file name for a service prefix: lowercase letters, digits and `-` kept, anything else `_xx`.
fn file_name(prefix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + 5);
    for byte in prefix.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' {
            name.push(char::from(byte));
        } else {
            let _ = write!(name, "_{byte:02x}");
        }
    }
    name.push_str(".json");
    name
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn cache_file_names_are_safe() {
        assert_eq!(file_name("ec2"), "ec2.json");
        assert_eq!(file_name("s3-object-lambda"), "s3-object-lambda.json");
        assert_eq!(file_name("../Evil/x"), "_2e_2e_2f_45vil_2fx.json");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(30), "30 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(5 * 3600), "5 h");
        assert_eq!(age(3 * 86_400 + 5), "3 days");
    }

    #[test]
    fn fresh_means_less_than_a_day_old_from_the_same_address() {
        let at = |secs_ago: i64| CacheFile {
            fetched_at: unix_now().saturating_add_signed(-secs_ago),
            url: "https://a.example/".to_owned(),
            data: (),
        };
        assert!(at(0).is_fresh_for("https://a.example/"));
        assert!(at(23 * 3600).is_fresh_for("https://a.example/"));
        assert!(!at(23 * 3600).is_fresh_for("https://b.example/"));
        assert!(!at(25 * 3600).is_fresh_for("https://a.example/"));
        assert!(!at(-3600).is_fresh_for("https://a.example/"), "a date in the future is not trusted");
        assert_eq!(at(3 * 86_400).age(), "3 days");
    }

    #[test]
    fn writes_replace_the_whole_file_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("service-reference"));
        let path = cache.service_path("ec2");
        write(&path, &CacheFile::fetched_now("u1", vec!["RunInstances".to_owned()])).unwrap();
        write(&path, &CacheFile::fetched_now("u2", vec!["A".to_owned(), "B".to_owned()])).unwrap();
        let read: CacheFile<Vec<String>> = read(&path).unwrap();
        assert_eq!((read.url.as_str(), read.data), ("u2", vec!["A".to_owned(), "B".to_owned()]));
        assert_eq!(names(&dir.path().join("service-reference/services")), ["ec2.json"]);
        assert_eq!(cache.service_paths(), [path]);
    }

    #[test]
    fn only_finished_service_files_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_owned());
        assert!(cache.service_paths().is_empty(), "no cache yet");
        let services = dir.path().join("services");
        fs::create_dir_all(&services).unwrap();
        for name in ["s3.json", ".ec2.json.abc123.tmp", ".hidden.json", "notes.txt"] {
            fs::write(services.join(name), "{}").unwrap();
        }
        assert_eq!(cache.service_paths(), [services.join("s3.json")]);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("service-reference");
        fs::write(&blocker, "a file where the directory should be").unwrap();
        let err = write(&blocker.join("index.json"), &CacheFile::fetched_now("u", 1)).unwrap_err();
        assert!(format!("{err:#}").starts_with(&format!("cannot create {}", blocker.display())), "{err:#}");

        // The target is a directory: the rename fails, and the temporary file goes.
        let target = dir.path().join("index.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), "").unwrap();
        let err = write(&target, &CacheFile::fetched_now("u", 1)).unwrap_err();
        assert!(format!("{err:#}").starts_with(&format!("cannot write {}", target.display())), "{err:#}");
        assert_eq!(names(dir.path()), ["index.json", "service-reference"]);
    }

    #[test]
    fn an_unreadable_file_reads_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.json");
        assert!(read::<u32>(&path).is_none());
        fs::write(&path, "{\"fetched_at\": 1, \"url\"").unwrap();
        assert!(read::<u32>(&path).is_none());
        fs::write(&path, r#"{"fetched_at": 1, "url": "u", "data": "not a number"}"#).unwrap();
        assert!(read::<u32>(&path).is_none());
    }
}
