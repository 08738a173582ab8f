//! `kith-bridge-matrix`: messages in a Matrix room (settings `homeserver`, `token`, `room`).

fn main() -> std::process::ExitCode {
    kith_bridges::serve(kith_bridges::matrix::Matrix::default())
}
