//! Request planning: which register ranges to read so that every point of a device is covered
//! with as few requests as possible.
//!
//! Points of the same register table and poll class whose addresses are close are joined into
//! one request, reading up to `max_hole` unused registers between them, as long as the request
//! stays within the per-device register (or bit) limit. Devices that refuse block reads get one
//! request per point.

use crate::config::modbus::{DataType, PointDef, PollClass, RegisterKind};

/// One read request and the points it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// Register table.
    pub register: RegisterKind,
    /// Poll class of its points.
    pub class: PollClass,
    /// First register or bit address.
    pub start: u16,
    /// Number of registers or bits.
    pub count: u16,
    /// Indices of the covered points in the template's point list.
    pub points: Vec<usize>,
}

/// Planning limits, from the device's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Largest gap of unused registers to read through.
    pub max_hole: u16,
    /// Most registers per request.
    pub max_registers: u16,
    /// Most bits per request.
    pub max_bits: u16,
    /// One request per point.
    pub one_point_per_request: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            max_hole: 10,
            max_registers: 125,
            max_bits: 2000,
            one_point_per_request: false,
        }
    }
}

/// Registers (or bits) a point occupies.
pub fn point_len(p: &PointDef) -> u16 {
    match p.data_type {
        DataType::String => p.length.unwrap_or(1).max(1),
        t => t.words(),
    }
}

/// Whether the register table is bit-addressed.
pub fn is_bit_table(r: RegisterKind) -> bool {
    matches!(r, RegisterKind::Coil | RegisterKind::Discrete)
}

/// Plan the requests for `points`. A point longer than the limit gets a request of its own
/// (`check-config` rejects such templates before this is reached).
pub fn plan(points: &[PointDef], opts: PlanOptions) -> Vec<ReadRequest> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| {
        let p = &points[i];
        (p.register as u8, p.poll as u8, p.address, i)
    });
    let mut out: Vec<ReadRequest> = Vec::new();
    for i in order {
        let p = &points[i];
        let len = point_len(p);
        let end = p.address as u32 + len as u32;
        let limit = if is_bit_table(p.register) {
            opts.max_bits
        } else {
            opts.max_registers
        } as u32;
        if !opts.one_point_per_request
            && let Some(last) = out.last_mut()
            && last.register == p.register
            && last.class == p.poll
        {
            let last_end = last.start as u32 + last.count as u32;
            let gap = (p.address as u32).saturating_sub(last_end);
            let new_end = end.max(last_end);
            if gap <= opts.max_hole as u32 && new_end - last.start as u32 <= limit {
                last.count = (new_end - last.start as u32) as u16;
                last.points.push(i);
                continue;
            }
        }
        out.push(ReadRequest {
            register: p.register,
            class: p.poll,
            start: p.address,
            count: len,
            points: vec![i],
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::ByteOrder;
    use crate::model::{Quantity, Unit};

    fn pt(register: RegisterKind, address: u16, data_type: DataType, poll: PollClass) -> PointDef {
        PointDef {
            name: format!("p{address}"),
            quantity: Quantity::Flow,
            unit: Unit::M3PerH,
            register,
            address,
            data_type,
            order: ByteOrder::ABCD,
            length: None,
            bit: None,
            scale: 1.0,
            offset: 0.0,
            sentinels: vec![],
            min: None,
            max: None,
            modulus: None,
            poll,
            status_bits: Default::default(),
        }
    }

    use DataType::*;
    use PollClass::*;
    use RegisterKind::*;

    #[test]
    fn joins_close_points_and_splits_far_ones() {
        let points = vec![
            pt(Holding, 0, U32, Fast),  // 0..2
            pt(Holding, 2, F32, Fast),  // 2..4: contiguous
            pt(Holding, 10, I16, Fast), // gap 6 ≤ 10: joined → 0..11
            pt(Holding, 40, I16, Fast), // gap 29 > 10: new request
            pt(Input, 1, I16, Fast),    // other table
            pt(Holding, 4, U16, Slow),  // other class
        ];
        let r = plan(&points, PlanOptions::default());
        let got: Vec<(RegisterKind, PollClass, u16, u16, Vec<usize>)> = r
            .into_iter()
            .map(|q| (q.register, q.class, q.start, q.count, q.points))
            .collect();
        assert_eq!(
            got,
            vec![
                (Input, Fast, 1, 1, vec![4]),
                (Holding, Fast, 0, 11, vec![0, 1, 2]),
                (Holding, Fast, 40, 1, vec![3]),
                (Holding, Slow, 4, 1, vec![5]),
            ]
        );
    }

    #[test]
    fn respects_the_register_limit_and_workaround() {
        let points: Vec<PointDef> = (0..70).map(|i| pt(Holding, i * 2, F32, Fast)).collect();
        // 140 registers in a row: 125 fit the first request (62 points = 124 registers; the
        // 63rd would end at 126), the rest go to a second one.
        let r = plan(&points, PlanOptions::default());
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].start, r[0].count, r[0].points.len()), (0, 124, 62));
        assert_eq!((r[1].start, r[1].count), (124, 16));
        let one = plan(
            &points,
            PlanOptions {
                one_point_per_request: true,
                ..Default::default()
            },
        );
        assert_eq!(one.len(), 70);
        let tight = plan(
            &points,
            PlanOptions {
                max_registers: 10,
                ..Default::default()
            },
        );
        assert_eq!(tight.len(), 14);
    }

    #[test]
    fn bits_use_the_bit_limit() {
        let points: Vec<PointDef> = (0..3000).map(|i| pt(Coil, i, Bit, Fast)).collect();
        let r = plan(&points, PlanOptions::default());
        assert_eq!(
            r.iter().map(|q| q.count).collect::<Vec<_>>(),
            vec![2000, 1000]
        );
    }
}
