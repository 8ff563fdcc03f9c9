//! xvswitch control plane.
