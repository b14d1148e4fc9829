#version 330 core
// Generic rasteriser: any number of float channels per vertex, packed as GROUPS vec4s per vertex
// (GROUPS is defined by the loader), interpolated linearly in screen space (the vertices are
// already in pixels, so there is no perspective divide to correct for).
#include "common.glsl"

uniform sampler2D u_positions;   // one texel (x, y, z, 0) per vertex and frame
uniform sampler2D u_attributes;  // u_attr_groups texels per vertex and frame
uniform int u_n_vertices;
uniform int u_frame;             // frame within the uploaded positions
uniform int u_attr_frame;        // frame within the uploaded attributes (0 when shared)
uniform int u_attr_groups;       // vec4 groups per vertex in u_attributes
uniform int u_group_offset;      // first group this pass writes (passes split many channels)

noperspective out vec4 v_attr[GROUPS];

void main() {
    int v = gl_VertexID;  // the index-buffer value: the mesh's vertex number
    vec3 p = fetch_texel(u_positions, u_frame * u_n_vertices + v).xyz;
    gl_Position = pixel_to_clip(p);
    int base = (u_attr_frame * u_n_vertices + v) * u_attr_groups + u_group_offset;
    for (int g = 0; g < GROUPS; ++g) {
        v_attr[g] = fetch_texel(u_attributes, base + g);
    }
}
