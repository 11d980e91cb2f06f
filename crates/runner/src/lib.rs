#![doc = include_str!("../README.md")]

pub mod engine;
pub mod judge;
pub mod providers;
pub mod reproducibility;

pub use engine::{
    Activity, ActivityBoard, Drained, EngineConfig, EngineHandle, EngineSignal, EngineStopper,
    LivePosition, LiveText,
};
pub use providers::{
    Credentials, Provider, ProviderConfig, ProviderConfigError, ProviderKind, ProviderRegistry,
};
