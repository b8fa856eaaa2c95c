//! The feature role: live feature vectors on `flare.features.>` from the observations on OBS.

pub mod series;
