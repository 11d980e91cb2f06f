DROP TABLE run_latency_histograms;
