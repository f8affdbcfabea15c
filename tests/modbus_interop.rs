//! Interop with a Modbus server nobody here wrote: pymodbus (tests/peers/modbus_server.py),
//! over TCP and over RTU through a socat pseudo-terminal pair. Values are the ones the server
//! script documents.

mod common;

use heatkpi::collect::modbus::point::PointValue;
use heatkpi::collect::modbus::poll::read_once;
use heatkpi::config::modbus::{ByteOrder, DataType, Device, PointDef, RegisterKind, Transport};
use heatkpi::model::{Quantity, Unit};

fn device(address: &str, transport: Transport) -> Device {
    let mut d: Device = toml::from_str(&format!(
        "id = \"peer\"\ntemplate = \"t\"\nasset = \"a\"\naddress = {address:?}\nunit_id = 1\nbaud = 19200\ntimeout_ms = 2000"
    ))
    .unwrap();
    d.transport = transport;
    d
}

fn point(register: RegisterKind, address: u16, data_type: DataType, order: ByteOrder) -> PointDef {
    PointDef {
        name: "p".into(),
        quantity: Quantity::Flow,
        unit: Unit::M3PerH,
        register,
        address,
        data_type,
        order,
        length: None,
        bit: None,
        scale: 1.0,
        offset: 0.0,
        sentinels: vec![],
        min: None,
        max: None,
        modulus: None,
        poll: Default::default(),
        status_bits: Default::default(),
    }
}

async fn number(d: &Device, p: &PointDef) -> f64 {
    match read_once(d, p).await.unwrap().1 {
        PointValue::Number(v) => v,
        other => panic!("expected a number, got {other:?}"),
    }
}

async fn check_known_values(d: Device) {
    use ByteOrder::*;
    use DataType::*;
    use RegisterKind::*;
    // 21.5 as float32 in all four byte/word orders at 0, 2, 4, 6
    for (addr, order) in [(0, ABCD), (2, CDAB), (4, BADC), (6, DCBA)] {
        assert_eq!(
            number(&d, &point(Holding, addr, F32, order)).await,
            21.5,
            "{order:?}"
        );
    }
    assert_eq!(number(&d, &point(Holding, 8, U32, ABCD)).await, 100_000.0);
    assert_eq!(number(&d, &point(Holding, 10, I16, ABCD)).await, -1234.0);
    assert_eq!(number(&d, &point(Holding, 12, F64, ABCD)).await, 1234.5678);
    assert_eq!(
        number(&d, &point(Holding, 16, U64, ABCD)).await,
        5_000_000_000.0
    );
    let mut scaled = point(Holding, 22, I16, ABCD);
    scaled.scale = 0.01;
    assert!((number(&d, &scaled).await - 72.5).abs() < 1e-9);
    let mut sentinel = point(Holding, 11, U16, ABCD);
    sentinel.sentinels = vec![65535.0];
    assert_eq!(
        read_once(&d, &sentinel).await.unwrap().1,
        PointValue::Sentinel
    );
    let mut text = point(Holding, 20, String, ABCD);
    text.length = Some(2);
    assert_eq!(
        read_once(&d, &text).await.unwrap().1,
        PointValue::Text("HK01".into())
    );
    assert_eq!(number(&d, &point(Input, 3, U16, ABCD)).await, 103.0);
    let coils: Vec<f64> = {
        let mut v = vec![];
        for a in 0..8 {
            v.push(number(&d, &point(Coil, a, Bit, ABCD)).await);
        }
        v
    };
    assert_eq!(coils, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    // An address the server does not have: a Modbus exception, not a transport error.
    let err = read_once(&d, &point(Holding, 9000, U16, ABCD))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "exception", "{err}");
}

#[tokio::test]
async fn pymodbus_over_tcp() {
    let Some(addr) = common::peer("HEATKPI_PEER_MODBUS_TCP") else {
        return;
    };
    check_known_values(device(&addr, Transport::Tcp)).await;
}

#[tokio::test]
async fn pymodbus_over_rtu_on_a_pseudo_terminal() {
    let Some(tty) = common::peer("HEATKPI_PEER_MODBUS_RTU") else {
        return;
    };
    check_known_values(device(&tty, Transport::Rtu)).await;
}
