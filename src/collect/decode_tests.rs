//! Codec tests: every data type × byte order against register words written out by hand.

use super::*;
use crate::config::modbus::PollClass;
use crate::model::{Quantity, Unit};
use std::collections::BTreeMap;

const ORDERS: [ByteOrder; 4] = [
    ByteOrder::ABCD,
    ByteOrder::CDAB,
    ByteOrder::BADC,
    ByteOrder::DCBA,
];

fn point(dt: DataType, order: ByteOrder) -> PointDef {
    PointDef {
        name: "p".into(),
        quantity: Quantity::HeatEnergy,
        unit: Unit::MWh,
        register: RegisterKind::Holding,
        address: 0,
        data_type: dt,
        order,
        length: None,
        bit: None,
        scale: 1.0,
        offset: 0.0,
        sentinels: vec![],
        min: None,
        max: None,
        modulus: None,
        poll: PollClass::Fast,
        status_bits: BTreeMap::new(),
    }
}

/// For each order: the words expected for one value, then decode and encode both ways.
fn check(dt: DataType, raw: RawValue, cases: [(ByteOrder, &[u16]); 4]) {
    for (order, words) in cases {
        let got = decode_raw(dt, order, None, None, words).unwrap();
        assert_eq!(got, raw, "{dt:?} {order:?} decode {words:04X?}");
        let mut out = [0u16; 4];
        let n = encode_raw(dt, order, None, None, &raw, &mut out).unwrap();
        assert_eq!(&out[..n], words, "{dt:?} {order:?} encode");
    }
}

#[test]
fn sixteen_bit_types() {
    // 0x1234 = 4660; byte-swapping orders give 0x3412.
    check(
        DataType::U16,
        RawValue::Unsigned(0x1234),
        [
            (ByteOrder::ABCD, &[0x1234]),
            (ByteOrder::CDAB, &[0x1234]),
            (ByteOrder::BADC, &[0x3412]),
            (ByteOrder::DCBA, &[0x3412]),
        ],
    );
    // −2 = 0xFFFE in two's complement.
    check(
        DataType::I16,
        RawValue::Signed(-2),
        [
            (ByteOrder::ABCD, &[0xFFFE]),
            (ByteOrder::CDAB, &[0xFFFE]),
            (ByteOrder::BADC, &[0xFEFF]),
            (ByteOrder::DCBA, &[0xFEFF]),
        ],
    );
}

#[test]
fn thirty_two_bit_types() {
    check(
        DataType::U32,
        RawValue::Unsigned(0x1234_5678),
        [
            (ByteOrder::ABCD, &[0x1234, 0x5678]),
            (ByteOrder::CDAB, &[0x5678, 0x1234]),
            (ByteOrder::BADC, &[0x3412, 0x7856]),
            (ByteOrder::DCBA, &[0x7856, 0x3412]),
        ],
    );
    // −123456789: 123456789 = 0x075BCD15, so −x = 0xF8A432EA + 1 = 0xF8A432EB.
    check(
        DataType::I32,
        RawValue::Signed(-123_456_789),
        [
            (ByteOrder::ABCD, &[0xF8A4, 0x32EB]),
            (ByteOrder::CDAB, &[0x32EB, 0xF8A4]),
            (ByteOrder::BADC, &[0xA4F8, 0xEB32]),
            (ByteOrder::DCBA, &[0xEB32, 0xA4F8]),
        ],
    );
    // 123.456f32 = 0x42F6E979 (sign 0, exponent 0x85 = 2^6, mantissa 0x76E979).
    check(
        DataType::F32,
        RawValue::Float(f64::from(123.456f32)),
        [
            (ByteOrder::ABCD, &[0x42F6, 0xE979]),
            (ByteOrder::CDAB, &[0xE979, 0x42F6]),
            (ByteOrder::BADC, &[0xF642, 0x79E9]),
            (ByteOrder::DCBA, &[0x79E9, 0xF642]),
        ],
    );
}

#[test]
fn sixty_four_bit_types() {
    check(
        DataType::U64,
        RawValue::Unsigned(0x0123_4567_89AB_CDEF),
        [
            (ByteOrder::ABCD, &[0x0123, 0x4567, 0x89AB, 0xCDEF]),
            (ByteOrder::CDAB, &[0xCDEF, 0x89AB, 0x4567, 0x0123]),
            (ByteOrder::BADC, &[0x2301, 0x6745, 0xAB89, 0xEFCD]),
            (ByteOrder::DCBA, &[0xEFCD, 0xAB89, 0x6745, 0x2301]),
        ],
    );
    // −2 = 0xFFFF_FFFF_FFFF_FFFE.
    check(
        DataType::I64,
        RawValue::Signed(-2),
        [
            (ByteOrder::ABCD, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE]),
            (ByteOrder::CDAB, &[0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF]),
            (ByteOrder::BADC, &[0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF]),
            (ByteOrder::DCBA, &[0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF]),
        ],
    );
    // 0.1 = 0x3FB999999999999A (the nearest double).
    check(
        DataType::F64,
        RawValue::Float(0.1),
        [
            (ByteOrder::ABCD, &[0x3FB9, 0x9999, 0x9999, 0x999A]),
            (ByteOrder::CDAB, &[0x999A, 0x9999, 0x9999, 0x3FB9]),
            (ByteOrder::BADC, &[0xB93F, 0x9999, 0x9999, 0x9A99]),
            (ByteOrder::DCBA, &[0x9A99, 0x9999, 0x9999, 0xB93F]),
        ],
    );
}

#[test]
fn bits_ignore_the_order() {
    // 0x0024 = bits 2 and 5 set.
    for order in ORDERS {
        let at = |b| decode_raw(DataType::Bit, order, Some(b), None, &[0x0024]).unwrap();
        assert_eq!(at(2), RawValue::Bit(true));
        assert_eq!(at(5), RawValue::Bit(true));
        assert_eq!(at(3), RawValue::Bit(false));
        let mut out = [0u16; 1];
        encode_raw(
            DataType::Bit,
            order,
            Some(5),
            None,
            &RawValue::Bit(true),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0x0020]);
    }
    assert_eq!(
        decode_raw(DataType::Bit, ByteOrder::ABCD, Some(16), None, &[0]),
        Err(CodecError::BitIndex(16))
    );
}

#[test]
fn strings_in_every_order() {
    // "HEAT01" in 4 registers: 'H' 0x48 'E' 0x45 'A' 0x41 'T' 0x54 '0' 0x30 '1' 0x31, NUL padded.
    let straight: &[u16] = &[0x4845, 0x4154, 0x3031, 0x0000];
    let swapped: &[u16] = &[0x4548, 0x5441, 0x3130, 0x0000];
    for (order, words) in [
        (ByteOrder::ABCD, straight),
        (ByteOrder::CDAB, straight),
        (ByteOrder::BADC, swapped),
        (ByteOrder::DCBA, swapped),
    ] {
        let raw = decode_raw(DataType::String, order, None, Some(4), words).unwrap();
        assert_eq!(raw, RawValue::Text("HEAT01".into()), "{order:?}");
        let mut out = [0xFFFFu16; 4];
        let n = encode_raw(DataType::String, order, None, Some(4), &raw, &mut out).unwrap();
        assert_eq!(&out[..n], words, "{order:?}");
    }
    // Space padding is cut too; a string without `length` is an error.
    let raw = decode_raw(
        DataType::String,
        ByteOrder::ABCD,
        None,
        Some(2),
        &[0x4142, 0x2020],
    );
    assert_eq!(raw, Ok(RawValue::Text("AB".into())));
    assert_eq!(
        decode_raw(DataType::String, ByteOrder::ABCD, None, None, &[0]),
        Err(CodecError::StringLength)
    );
}

#[test]
fn short_input_is_an_error() {
    assert_eq!(
        decode_raw(DataType::F32, ByteOrder::ABCD, None, None, &[0x42F6]),
        Err(CodecError::Length {
            data_type: DataType::F32,
            need: 2,
            got: 1
        })
    );
}

#[test]
fn scale_offset_and_sentinels() {
    // Supply temperature as i16 × 0.01 °C: raw 6543 → 65.43 °C.
    let mut p = point(DataType::I16, ByteOrder::ABCD);
    p.scale = 0.01;
    p.sentinels = vec![32767.0, -32768.0];
    let d = decode_point(&p, &[6543]).unwrap();
    assert!((d.value - 65.43).abs() < 1e-12 && !d.sentinel);
    // 0x7FFF = 32767 is the "sensor error" sentinel.
    assert!(decode_point(&p, &[0x7FFF]).unwrap().sentinel);
    let mut w = [0u16; 1];
    encode_point(&p, 65.43, &mut w).unwrap();
    assert_eq!(w, [6543]);
    // NaN encodes the first sentinel.
    encode_point(&p, f64::NAN, &mut w).unwrap();
    assert_eq!(w, [0x7FFF]);
    // 400 °C needs raw 40000 > i16::MAX.
    assert!(matches!(
        encode_point(&p, 400.0, &mut w),
        Err(CodecError::OutOfRange { .. })
    ));

    // Offset: Kelvin-coded u16 × 0.1 − 273.1: raw 3631 → 363.1 − 273.1 = 90.0 °C.
    let mut k = point(DataType::U16, ByteOrder::BADC);
    k.scale = 0.1;
    k.offset = -273.1;
    let words = [3631u16.swap_bytes()];
    assert!((decode_point(&k, &words).unwrap().value - 90.0).abs() < 1e-9);
    encode_point(&k, 90.0, &mut w).unwrap();
    assert_eq!(w, words);

    // A NaN float is "no value" even without listed sentinels.
    let f = point(DataType::F32, ByteOrder::CDAB);
    let mut w2 = [0u16; 2];
    encode_point(&f, f64::NAN, &mut w2).unwrap();
    assert!(decode_point(&f, &w2).unwrap().sentinel);
}

#[test]
fn counter_modulus_wraps_and_rounds() {
    // Energy u32 in 0.001 MWh (kWh) with modulus 2^32: 4294967.301 MWh is raw 4294967301,
    // which wraps to 4294967301 − 4294967296 = 5 → 0.005 MWh.
    let mut p = point(DataType::U32, ByteOrder::ABCD);
    p.scale = 0.001;
    p.modulus = Some(4_294_967_296.0);
    let d = quantize(&p, 4_294_967.301).unwrap();
    assert_eq!(d.raw, RawValue::Unsigned(5));
    assert!((d.value - 0.005).abs() < 1e-12);
    assert_eq!(modulus_in_unit(&p), Some(4_294_967.296));
    // 12.3456 MWh rounds to 12346 kWh.
    assert_eq!(
        quantize(&p, 12.3456).unwrap().raw,
        RawValue::Unsigned(12346)
    );
}

#[test]
fn every_type_and_order_round_trips_values() {
    let values = [0.0, 1.0, 42.0, 123.25, 65535.0, 1.0e6, 3.0e9];
    let types = [
        DataType::I16,
        DataType::U16,
        DataType::I32,
        DataType::U32,
        DataType::I64,
        DataType::U64,
        DataType::F32,
        DataType::F64,
    ];
    for dt in types {
        for order in ORDERS {
            let p = point(dt, order);
            for v in values {
                let mut w = [0u16; 4];
                match encode_point(&p, v, &mut w) {
                    Ok(n) => {
                        let back = decode_point(&p, &w[..n]).unwrap().value;
                        let tol = if dt == DataType::F32 {
                            v.abs() * 1e-7
                        } else {
                            0.5
                        };
                        assert!((back - v).abs() <= tol, "{dt:?} {order:?} {v} → {back}");
                    }
                    Err(CodecError::OutOfRange { .. }) => {
                        assert!(matches!(dt, DataType::I16 | DataType::U16 | DataType::I32));
                    }
                    Err(e) => panic!("{dt:?} {order:?} {v}: {e}"),
                }
            }
        }
    }
}
