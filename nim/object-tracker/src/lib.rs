//! (in progress)
#![no_std]
