//! What more than one integration test needs.

/// The file's descriptor (Unix) or HANDLE (Windows), for `Segment::fd`.
#[cfg(unix)]
pub fn native(file: &std::fs::File) -> std::os::unix::io::BorrowedFd<'_> {
    std::os::unix::io::AsFd::as_fd(file)
}
#[cfg(windows)]
pub fn native(file: &std::fs::File) -> std::os::windows::io::BorrowedHandle<'_> {
    std::os::windows::io::AsHandle::as_handle(file)
}
