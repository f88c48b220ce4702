"""ERA5 2 m temperature: forecast the next 20 hours from the past 12 (paper Sec. 4.5, spec §8.5)."""
