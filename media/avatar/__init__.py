"""Streamers' faces: a portrait per persona made by its own stream generator, an embedded animator that moves
it from the voice's loudness (mouth, blinks, idle motion) and composites it picture-in-picture, and the optional
EchoMimic path that renders talking-head clips ahead on a GPU.
"""
