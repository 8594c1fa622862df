pub mod garage;
