"""The Gradio web interface: search by image, k-NN classification, an explorable map, the report."""
