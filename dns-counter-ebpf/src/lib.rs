#![no_std]
// The program lives in main.rs; this empty library lets the host workspace build and test
// without the BPF target.
