//! Collection from field devices.
//!
//! `decode` is the register codec shared by the Modbus agent (which decodes what devices send)
//! and the simulator (which encodes what it serves), so both sides agree on every data type and
//! byte order by construction. Collectors know nothing about KPIs (design.md §1).

pub mod decode;
