fn main() {
    println!("flare-plus");
}
