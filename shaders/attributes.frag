#version 330 core
// Writes the interpolated groups to as many RGBA32F attachments, and the face index + 1 into the
// channel u_id_channel (0 stays "no face" after the clear). The index travels as a float: exact
// up to 2^24 faces, far beyond any face mesh.

uniform int u_group_offset;
uniform int u_id_channel;  // global channel number of the face index

noperspective in vec4 v_attr[GROUPS];
layout(location = 0) out vec4 o_attr[GROUPS];

void main() {
    float id = float(gl_PrimitiveID + 1);
    for (int g = 0; g < GROUPS; ++g) {
        vec4 a = v_attr[g];
        int k = u_id_channel - (u_group_offset + g) * 4;
        if (k >= 0 && k < 4) {
            a[k] = id;
        }
        o_attr[g] = a;
    }
}
