//! Local files for agents on the same machine (stdio): `put {key, path}` stores a file from a
//! files root, streaming, whatever its size; `get {key, save_to}` saves an object (or a range
//! of it) to a file in a root, atomically: a temporary file renamed into place only once
//! every byte verified, so a failure or a cancelled call leaves nothing at `save_to`. Path
//! checks are `crate::files`'s; this module only moves the bytes.

use tokio::io::AsyncWriteExt;

use super::error::{ErrorCode, ServiceError};
use super::get_stream::open_download;
use super::put_stream::{cancelled, stream_object};
use super::{Caller, FilePut, GetRequest, Progress, Saved, Service, Stored, StreamPut, Tool, Want};
use crate::files::FilesError;

impl Service {
    /// Seals and stores the file at `request.path` (inside a files root) under `request.key`.
    pub async fn put_file(
        &self,
        caller: &Caller,
        request: FilePut,
        progress: Option<&dyn Progress>,
    ) -> Result<Stored, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Put, Some(&key), async |tenant| {
            let files = std::sync::Arc::clone(&self.inner.files);
            let path = request.path.clone();
            let opened = tokio::task::spawn_blocking(move || files.open_read(&path))
                .await
                .map_err(|_| blocking_failed())??;
            let content_type = request
                .content_type
                .or_else(|| guess_type(&request.path).map(str::to_owned));
            let stream = StreamPut {
                key: request.key,
                content_type,
                metadata: request.metadata,
                max_bytes: None,
                expected_size: Some(opened.len),
            };
            let mut file = tokio::fs::File::from_std(opened.file);
            stream_object(tenant, stream, &mut file, progress, None).await
        })
        .await
    }

    /// Saves the object at `request.key` (or `request.range` of it) to `save_to`, inside a
    /// files root, replacing a file there.
    pub async fn save_file(
        &self,
        caller: &Caller,
        request: GetRequest,
        save_to: &str,
        progress: Option<&dyn Progress>,
    ) -> Result<Saved, ServiceError> {
        let key = request.key.clone();
        self.run(caller, Tool::Get, Some(&key), async |tenant| {
            let files = std::sync::Arc::clone(&self.inner.files);
            let target = save_to.to_owned();
            // Checked (and the temporary file made) before anything is read.
            let mut pending = tokio::task::spawn_blocking(move || files.create(&target))
                .await
                .map_err(|_| blocking_failed())??;
            let want = match request.range {
                Some(r) => Want::Range(r),
                None => Want::All,
            };
            let mut download = open_download(tenant, request.key, want, None).await?;
            let total = download.len();
            let writer = pending
                .file_mut()
                .try_clone()
                .map_err(|e| ServiceError::from(FilesError::io("write", pending.path(), e)))?;
            let mut writer = tokio::fs::File::from_std(writer);
            let mut done = 0u64;
            while let Some(piece) = download.next().await {
                let piece = piece?;
                writer
                    .write_all(&piece)
                    .await
                    .map_err(|e| ServiceError::from(FilesError::io("write", pending.path(), e)))?;
                done += piece.len() as u64;
                if let Some(p) = progress {
                    if p.cancelled() {
                        return Err(cancelled());
                    }
                    p.advanced(done, Some(total));
                }
            }
            writer
                .flush()
                .await
                .map_err(|e| ServiceError::from(FilesError::io("write", pending.path(), e)))?;
            drop(writer);
            let saved_to = tokio::task::spawn_blocking(move || pending.commit())
                .await
                .map_err(|_| blocking_failed())??;
            Ok(Saved {
                key: download.key,
                size: download.size,
                written: done,
                saved_to: saved_to.display().to_string(),
            })
        })
        .await
    }
}

impl From<FilesError> for ServiceError {
    fn from(e: FilesError) -> Self {
        let code = match &e {
            FilesError::Disabled => ErrorCode::FilesDisabled,
            FilesError::OutsideRoot { .. } => ErrorCode::PathOutsideRoot,
            FilesError::NotAFile { .. } => ErrorCode::NotAFile,
            FilesError::IsADirectory { .. } => ErrorCode::IsADirectory,
            FilesError::NotFound { .. } | FilesError::MissingDirectory { .. } => {
                ErrorCode::FileNotFound
            }
            FilesError::InvalidPath { .. } | FilesError::InvalidRoot { .. } => {
                ErrorCode::InvalidPath
            }
            FilesError::Io { .. } => ErrorCode::FileIo,
        };
        ServiceError::new(code, e.to_string())
    }
}

fn blocking_failed() -> ServiceError {
    ServiceError::new(ErrorCode::Internal, "file task failed")
}

/// The media type of common file names, for a `put` from a path without one.
fn guess_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "parquet" => "application/vnd.apache.parquet",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::guess_type;

    #[test]
    fn common_types_are_guessed_from_the_name() {
        assert_eq!(guess_type("/d/Report.PDF"), Some("application/pdf"));
        assert_eq!(guess_type("a/b.tar.gz"), Some("application/gzip"));
        assert_eq!(guess_type("noext"), None);
        assert_eq!(guess_type("x.unknown"), None);
    }
}
