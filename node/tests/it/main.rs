//! Black-box tests of the real `kith` binary against temporary homes.

mod api;
mod browser;
mod cli;
mod daemon;
mod devices;
mod friends;
mod hostile;
mod profile;
mod recovery;
mod secrets;
mod social_recovery;
mod util;
mod web;
