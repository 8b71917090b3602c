"""The Rules as code: regions, periods, the directive, statistics -> peaks -> caps, the case."""
