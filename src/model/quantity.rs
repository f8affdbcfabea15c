//! The closed vocabulary of measured quantities, their canonical units, and unit conversion.
//!
//! Every sample in the store is in the canonical unit of its quantity (design.md §3). A data
//! point declares the unit it arrives in; ingest converts with [`convert`]. Conversions that
//! need more than a factor (ppm → mg/Nm³ depends on the pollutant's molar mass) live here too,
//! so the one table of factors is tested once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How a quantity's values relate to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A cumulative register (energy, volume, fuel): period values are differences.
    Counter,
    /// An instantaneous reading (temperature, flow, concentration): period values are means.
    Gauge,
    /// Bit flags (device or analyser status): never averaged.
    Flags,
}

macro_rules! quantities {
    ($( $(#[$doc:meta])* $var:ident = $name:literal, $unit:ident, $kind:ident; )*) => {
        /// A measured quantity (closed vocabulary, design.md §3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Quantity { $( $(#[$doc])* $var, )* }

        impl Quantity {
            /// Every quantity, in declaration order.
            pub const ALL: &'static [Quantity] = &[ $( Quantity::$var, )* ];
            /// The name used in series keys, configuration and InfluxDB field names.
            pub fn name(self) -> &'static str { match self { $( Quantity::$var => $name, )* } }
            /// The unit every stored sample of this quantity is in.
            pub fn canonical_unit(self) -> Unit { match self { $( Quantity::$var => Unit::$unit, )* } }
            /// Counter, gauge or flags.
            pub fn kind(self) -> Kind { match self { $( Quantity::$var => Kind::$kind, )* } }
        }

        impl FromStr for Quantity {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s { $( $name => Ok(Quantity::$var), )* _ => Err(UnknownName { what: "quantity", name: s.to_string(), known: Quantity::ALL.iter().map(|q| q.name()).collect() }) }
            }
        }
    };
}

quantities! {
    /// Heat energy register, GJ.
    HeatEnergy = "heat_energy", GJ, Counter;
    /// Water volume register, m³.
    Volume = "volume", M3, Counter;
    /// Volume flow, m³/h.
    Flow = "flow", M3PerH, Gauge;
    /// Supply (flow) temperature θf, °C.
    SupplyTemp = "supply_temp", DegC, Gauge;
    /// Return temperature θr, °C.
    ReturnTemp = "return_temp", DegC, Gauge;
    /// Thermal power, MW.
    HeatPower = "heat_power", MW, Gauge;
    /// Differential pressure across a substation, bar.
    DiffPressure = "diff_pressure", Bar, Gauge;
    /// Solid or liquid fuel mass register, t.
    FuelMass = "fuel_mass", Tonne, Counter;
    /// Gaseous fuel volume register at normal conditions, Nm³.
    FuelVolume = "fuel_volume", Nm3, Counter;
    /// Measured lower heating value of the fuel, GJ per t or per Nm³ as received.
    Lhv = "lhv", GJPerUnit, Gauge;
    /// Gross electricity register, MWh.
    Electricity = "electricity", MWh, Counter;
    /// Heat stored in an accumulator, GJ (not a counter: it rises and falls).
    StoredEnergy = "stored_energy", GJ, Gauge;
    /// Oxygen in flue gas, % vol dry.
    O2 = "o2", Percent, Gauge;
    /// Water vapour in flue gas, % vol.
    H2o = "h2o", Percent, Gauge;
    /// SO2 concentration, mg/Nm³ dry at measured O2.
    So2 = "so2", MgPerNm3, Gauge;
    /// NOx (as NO2) concentration, mg/Nm³ dry at measured O2.
    Nox = "nox", MgPerNm3, Gauge;
    /// Dust concentration, mg/Nm³ dry at measured O2.
    Dust = "dust", MgPerNm3, Gauge;
    /// CO concentration, mg/Nm³ dry at measured O2.
    Co = "co", MgPerNm3, Gauge;
    /// Dry flue-gas flow, Nm³/h.
    FlueGasFlow = "flue_gas_flow", Nm3PerH, Gauge;
    /// Make-up water register, m³.
    MakeupWater = "makeup_water", M3, Counter;
    /// Outdoor air temperature, °C.
    OutdoorTemp = "outdoor_temp", DegC, Gauge;
    /// Device or analyser status bit flags.
    DeviceStatus = "device_status", Flags, Flags;
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not in a closed vocabulary; its `Display` lists the accepted names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`; expected one of: {}", known.join(", "))]
pub struct UnknownName {
    /// What kind of name it was ("quantity", "unit").
    pub what: &'static str,
    /// The name as written.
    pub name: String,
    /// The accepted names.
    pub known: Vec<&'static str>,
}

/// The physical dimension of a unit; conversion is possible only within one dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Energy (GJ, MWh, kWh, Gcal, MJ).
    Energy,
    /// Volume of water (m³, l).
    Volume,
    /// Volume flow (m³/h, l/h, l/s).
    VolumeFlow,
    /// Temperature (°C, K).
    Temperature,
    /// Power (MW, kW).
    Power,
    /// Pressure (bar, kPa, MPa).
    Pressure,
    /// Mass (t, kg).
    Mass,
    /// Gas volume at normal conditions (Nm³).
    NormalVolume,
    /// Specific energy of a fuel (GJ/t, MJ/kg, MJ/Nm³).
    SpecificEnergy,
    /// Concentration in flue gas (mg/Nm³, g/Nm³, ppm).
    Concentration,
    /// A share in percent.
    Share,
    /// Gas flow at normal conditions (Nm³/h).
    NormalFlow,
    /// Bit flags.
    Flags,
    /// A duration (KPI results and thresholds only: SAIDI, hours above a limit).
    Duration,
    /// A count (KPI results and thresholds only: interruptions per customer, events).
    Count,
    /// Energy per length of network trench (specific transmission loss).
    EnergyPerLength,
    /// Energy per heated floor area (specific consumption).
    EnergyPerArea,
    /// Temperature degree-days (heating degree days).
    DegreeDays,
}

macro_rules! units {
    ($( $(#[$doc:meta])* $var:ident = [$($name:literal),+], $dim:ident, $factor:expr; )*) => {
        /// A unit of measurement a point may declare.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Unit { $( $(#[$doc])* $var, )* }

        impl Unit {
            /// Every unit, in declaration order.
            pub const ALL: &'static [Unit] = &[ $( Unit::$var, )* ];
            /// The spelling used in configuration and output (the first accepted name).
            pub fn symbol(self) -> &'static str { match self { $( Unit::$var => [$($name),+][0], )* } }
            /// The dimension of this unit.
            pub fn dimension(self) -> Dimension { match self { $( Unit::$var => Dimension::$dim, )* } }
            /// Multiply by this to get the dimension's base unit (the first unit of the dimension).
            fn factor(self) -> f64 { match self { $( Unit::$var => $factor, )* } }
        }

        impl FromStr for Unit {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                $( if [$($name),+].contains(&s) { return Ok(Unit::$var); } )*
                Err(UnknownName { what: "unit", name: s.to_string(), known: Unit::ALL.iter().map(|u| u.symbol()).collect() })
            }
        }
    };
}

/// GJ per MWh: 1 MWh = 3.6 GJ (domain.md §0.1).
pub const GJ_PER_MWH: f64 = 3.6;
/// GJ per Gcal: 1 Gcal = 4.1868 GJ (international table calorie, domain.md §0.1).
pub const GJ_PER_GCAL: f64 = 4.1868;

units! {
    /// Gigajoule (canonical energy).
    GJ = ["GJ"], Energy, 1.0;
    /// Megawatt-hour.
    MWh = ["MWh"], Energy, GJ_PER_MWH;
    /// Kilowatt-hour.
    KWh = ["kWh"], Energy, GJ_PER_MWH / 1000.0;
    /// Gigacalorie.
    Gcal = ["Gcal"], Energy, GJ_PER_GCAL;
    /// Megajoule.
    MJ = ["MJ"], Energy, 0.001;
    /// Cubic metre (canonical water volume).
    M3 = ["m3", "m³"], Volume, 1.0;
    /// Litre.
    Litre = ["l", "L"], Volume, 0.001;
    /// Cubic metre per hour (canonical flow).
    M3PerH = ["m3/h", "m³/h"], VolumeFlow, 1.0;
    /// Litre per hour.
    LitrePerH = ["l/h"], VolumeFlow, 0.001;
    /// Litre per second.
    LitrePerS = ["l/s"], VolumeFlow, 3.6;
    /// Degree Celsius (canonical temperature).
    DegC = ["degC", "°C", "C"], Temperature, 1.0;
    /// Kelvin (converted with an offset, see [`convert`]).
    Kelvin = ["K"], Temperature, 1.0;
    /// Megawatt (canonical power).
    MW = ["MW"], Power, 1.0;
    /// Kilowatt.
    KW = ["kW"], Power, 0.001;
    /// Bar (canonical pressure).
    Bar = ["bar"], Pressure, 1.0;
    /// Kilopascal.
    KPa = ["kPa"], Pressure, 0.01;
    /// Megapascal.
    MPa = ["MPa"], Pressure, 10.0;
    /// Tonne (canonical mass).
    Tonne = ["t"], Mass, 1.0;
    /// Kilogram.
    Kg = ["kg"], Mass, 0.001;
    /// Normal cubic metre (canonical gas volume).
    Nm3 = ["Nm3", "Nm³"], NormalVolume, 1.0;
    /// Thousand normal cubic metres.
    KNm3 = ["kNm3", "1000Nm3"], NormalVolume, 1000.0;
    /// GJ per t or per Nm³ of fuel (canonical LHV); numerically equal to MJ/kg.
    GJPerUnit = ["GJ/t", "MJ/kg"], SpecificEnergy, 1.0;
    /// MJ per Nm³ of gas (GJ per 1000 Nm³).
    MJPerNm3 = ["MJ/Nm3", "MJ/Nm³"], SpecificEnergy, 0.001;
    /// Milligram per normal cubic metre (canonical concentration).
    MgPerNm3 = ["mg/Nm3", "mg/Nm³", "mg/m3u"], Concentration, 1.0;
    /// Gram per normal cubic metre.
    GPerNm3 = ["g/Nm3", "g/Nm³"], Concentration, 1000.0;
    /// Parts per million by volume; needs the pollutant's molar mass (see [`ppm_to_mg_per_nm3`]).
    Ppm = ["ppm"], Concentration, f64::NAN;
    /// Percent (canonical share).
    Percent = ["%", "percent"], Share, 1.0;
    /// Normal cubic metre per hour (canonical flue-gas flow).
    Nm3PerH = ["Nm3/h", "Nm³/h"], NormalFlow, 1.0;
    /// Bit flags (no conversion).
    Flags = ["flags"], Flags, 1.0;
    /// Hour (a duration).
    Hour = ["h"], Duration, 1.0;
    /// Day (24 hours).
    Day = ["d"], Duration, 24.0;
    /// A dimensionless count (e.g. SAIFI: interruptions per customer).
    Count = ["1", "count"], Count, 1.0;
    /// GJ per km of network trench.
    GJPerKm = ["GJ/km"], EnergyPerLength, 1.0;
    /// GJ per m² of heated area.
    GJPerM2 = ["GJ/m2", "GJ/m²"], EnergyPerArea, 1.0;
    /// kWh per m² of heated area.
    KWhPerM2 = ["kWh/m2", "kWh/m²"], EnergyPerArea, GJ_PER_MWH / 1000.0;
    /// Kelvin-days (heating degree days, Sd).
    KelvinDays = ["Kd", "K·d"], DegreeDays, 1.0;
}

impl Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.symbol())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// Molar volume of an ideal gas at 273.15 K and 101.325 kPa, in l/mol (domain.md §3.2).
pub const MOLAR_VOLUME_L: f64 = 22.414;

/// Molar mass in g/mol used for the ppm conversion of a pollutant; NOx is expressed as NO2.
pub fn molar_mass(q: Quantity) -> Option<f64> {
    match q {
        Quantity::So2 => Some(64.066),
        Quantity::Nox => Some(46.0055),
        Quantity::Co => Some(28.010),
        _ => None,
    }
}

/// `C [mg/Nm³] = C_ppm × M / 22.414` (domain.md §3.2). `None` for quantities without a molar mass
/// (dust has no ppm).
pub fn ppm_to_mg_per_nm3(q: Quantity, ppm: f64) -> Option<f64> {
    molar_mass(q).map(|m| ppm * m / MOLAR_VOLUME_L)
}

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The declared unit measures something else than the quantity.
    #[error(
        "unit `{unit}` does not fit quantity `{quantity}` (expected a unit like `{canonical}`)"
    )]
    WrongDimension {
        /// The declared unit.
        unit: Unit,
        /// The quantity.
        quantity: Quantity,
        /// The quantity's canonical unit.
        canonical: Unit,
    },
}

/// Whether `unit` can be converted to the canonical unit of `q`.
pub fn fits(q: Quantity, unit: Unit) -> bool {
    let canonical = q.canonical_unit();
    if unit == Unit::Ppm {
        return molar_mass(q).is_some();
    }
    // Fuel LHV may be given per Nm³ for gas: MJ/Nm³ shares the specific-energy dimension.
    unit.dimension() == canonical.dimension()
}

/// Convert `value` in `unit` to the canonical unit of `q`.
pub fn convert(q: Quantity, unit: Unit, value: f64) -> Result<f64, ConvertError> {
    if !fits(q, unit) {
        return Err(ConvertError::WrongDimension {
            unit,
            quantity: q,
            canonical: q.canonical_unit(),
        });
    }
    let canonical = q.canonical_unit();
    if unit == canonical {
        return Ok(value);
    }
    Ok(match unit {
        Unit::Ppm => ppm_to_mg_per_nm3(q, value).unwrap_or(f64::NAN),
        Unit::Kelvin => value - 273.15,
        _ => value * unit.factor() / canonical.factor(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn conversion_table() {
        // (quantity, unit, value in, expected canonical value, arithmetic)
        let table: &[(Quantity, Unit, f64, f64)] = &[
            (Quantity::HeatEnergy, Unit::MWh, 1.0, 3.6), // 1 MWh = 3.6 GJ
            (Quantity::HeatEnergy, Unit::KWh, 1000.0, 3.6), // 1000 kWh = 1 MWh = 3.6 GJ
            (Quantity::HeatEnergy, Unit::Gcal, 10.0, 41.868), // 10 × 4.1868
            (Quantity::HeatEnergy, Unit::MJ, 2500.0, 2.5), // 2500 / 1000
            (Quantity::HeatEnergy, Unit::GJ, 7.25, 7.25), // canonical
            (Quantity::Volume, Unit::Litre, 1500.0, 1.5), // 1500 l = 1.5 m³
            (Quantity::Flow, Unit::LitrePerS, 2.0, 7.2), // 2 l/s × 3600 s/h / 1000 = 7.2 m³/h
            (Quantity::Flow, Unit::LitrePerH, 900.0, 0.9), // 900 l/h = 0.9 m³/h
            (Quantity::SupplyTemp, Unit::Kelvin, 363.15, 90.0), // 363.15 − 273.15
            (Quantity::HeatPower, Unit::KW, 1250.0, 1.25), // 1250 kW = 1.25 MW
            (Quantity::DiffPressure, Unit::KPa, 150.0, 1.5), // 100 kPa = 1 bar
            (Quantity::DiffPressure, Unit::MPa, 0.16, 1.6), // 1 MPa = 10 bar
            (Quantity::FuelMass, Unit::Kg, 2500.0, 2.5), // 2500 kg = 2.5 t
            (Quantity::FuelVolume, Unit::KNm3, 1.2, 1200.0), // 1.2 thousand Nm³
            (Quantity::Lhv, Unit::MJPerNm3, 35.5, 0.0355), // 35.5 MJ/Nm³ = 0.0355 GJ/Nm³
            (Quantity::Electricity, Unit::KWh, 500.0, 0.5), // MWh canonical: 500 kWh = 0.5 MWh
            (Quantity::Dust, Unit::GPerNm3, 0.025, 25.0), // 0.025 g = 25 mg
            (Quantity::So2, Unit::Ppm, 100.0, 285.830_284_643_526), // 100 × 64.066 / 22.414
            (Quantity::Nox, Unit::Ppm, 100.0, 205.253_413_045_418), // 100 × 46.0055 / 22.414
            (Quantity::Co, Unit::Ppm, 100.0, 124.966_538_770_411), // 100 × 28.010 / 22.414
        ];
        for &(q, u, v, want) in table {
            let got = convert(q, u, v).unwrap();
            assert!(close(got, want), "{v} {u} as {q}: got {got}, want {want}");
        }
    }

    #[test]
    fn ppm_factors_match_the_rounded_ones_in_the_spec() {
        // domain.md §3.2: SO2 2.86, NO2 2.05, CO 1.25
        let f = |q| ppm_to_mg_per_nm3(q, 1.0).unwrap();
        assert_eq!(format!("{:.2}", f(Quantity::So2)), "2.86");
        assert_eq!(format!("{:.2}", f(Quantity::Nox)), "2.05");
        assert_eq!(format!("{:.2}", f(Quantity::Co)), "1.25");
    }

    #[test]
    fn wrong_dimension_is_an_error() {
        assert!(convert(Quantity::HeatEnergy, Unit::M3, 1.0).is_err());
        assert!(convert(Quantity::Dust, Unit::Ppm, 1.0).is_err());
        assert!(convert(Quantity::SupplyTemp, Unit::MW, 1.0).is_err());
    }

    #[test]
    fn names_round_trip() {
        for q in Quantity::ALL {
            assert_eq!(q.name().parse::<Quantity>().unwrap(), *q);
            assert!(fits(*q, q.canonical_unit()));
        }
        for u in Unit::ALL {
            assert_eq!(u.symbol().parse::<Unit>().unwrap(), *u);
        }
        assert_eq!("m³".parse::<Unit>().unwrap(), Unit::M3);
        let e = "Mwh".parse::<Unit>().unwrap_err();
        assert!(e.to_string().contains("MWh"));
    }
}
