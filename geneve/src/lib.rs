//! Geneve (RFC 8926) wire format.
