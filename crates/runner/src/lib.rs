#![doc = include_str!("../README.md")]

pub mod providers;

pub use providers::{
    Credentials, Provider, ProviderConfig, ProviderConfigError, ProviderKind, ProviderRegistry,
};
