// Shared by the mesh vertex shaders: image pixels to clip space, and per-vertex data read from
// float textures.
//
// Pixel convention: pixel (i, j) (row i, column j) covers [j, j+1) x [i, i+1) and its centre is
// (j + 0.5, i + 0.5); x goes right, y goes down, origin at the top-left corner. GL covers a pixel
// when its centre is inside the triangle, so mapping x in [0, width] onto NDC [-1, 1] gives exactly
// this convention. y is mapped without a flip: window row 0 is then image row 0, and the first row
// glReadPixels returns is the top of the image, so nothing is flipped on the CPU (the flip only
// mirrors the winding, and no face culling is used).

uniform vec2 u_viewport;     // (width, height) in pixels
uniform vec2 u_depth_range;  // (near, far): this frame's depth span, mapped onto clip z -1..1

vec4 pixel_to_clip(vec3 p) {
    vec2 ndc = p.xy / u_viewport * 2.0 - 1.0;
    float z = (p.z - u_depth_range.x) / (u_depth_range.y - u_depth_range.x) * 2.0 - 1.0;
    return vec4(ndc, z, 1.0);
}

// Per-vertex data lives in RGBA32F textures filled row by row: texel `index` sits at
// (index % width, index / width). Textures, not vertex buffers, so that every frame of a batch is
// uploaded once and a frame is chosen by a uniform, and so the number of vec4 groups per vertex
// can vary without rebinding vertex formats.
vec4 fetch_texel(sampler2D tex, int index) {
    int w = textureSize(tex, 0).x;
    return texelFetch(tex, ivec2(index % w, index / w), 0);
}
